/*
 * sessreg.h - the registry of logged-in sessions, behind `vellumctl who`
 * and `vellumctl kick` (man/vellumctl.8).
 *
 * Registry.  Each daemon process with logged-in sessions keeps one file,
 * DATA_DIR/run/sessions/PID.sess (SESSREG_DIR), rewritten whole at most
 * once per SESSREG_FLUSH_MS after logins and logouts (a burst costs one
 * rewrite; a temp file renamed over it, so a reader never sees
 * half of one) and removed when its last session ends or the process
 * stops:
 *
 *	vellum-sessions 1 PID START
 *	USER \t SERVICE \t IP \t PORT \t CONN \t SINCE
 *	...
 *
 * START is the process's start time (field 22 of /proc/PID/stat, clock
 * ticks since boot): a file whose process is gone, or whose pid now names
 * another process, is stale; readers skip it (sessreg_list()).  SERVICE is
 * "imap", "pop3" or "smtp"; CONN is the connection's number in that
 * process, the "conn N" of its log lines ("vellum-imapd[PID]: conn N:");
 * SINCE the login time (seconds since the epoch).
 *
 * Kick.  sessreg_kick_request() (vellumctl) writes PID.kick.REQ, one line
 * "USER \t SERVICE" (SERVICE "*": any), also through a temp file and a
 * rename, then sends the process SIGUSR2.  Every process with an event
 * loop catches SIGUSR2 from conn_loop_init() on (sessreg_setup(): a
 * libevent signal event, so the work runs on the loop, not in a signal
 * handler), reads and removes its PID.kick.* files and calls conn_kick()
 * on each matching session: the protocol's goodbye (IMAP "* BYE", POP3
 * "-ERR", SMTP 421) at the next command boundary, then the close.  The
 * pid's start time is checked before the signal, so a pid reused by
 * another program is never signalled.  vellumctl may run as root in a
 * directory the daemons' user writes: it reads registry files only when
 * they are regular files (no link followed), signals a pid only when the
 * process runs as the file's owner, and writes the request through a new
 * temp file of a random name (O_EXCL), mode 0644 whatever the umask.
 */
#ifndef VELLUM_SESSREG_H
#define VELLUM_SESSREG_H

#include <stdint.h>
#include <sys/types.h>

struct conn;
struct sessreg_entry;

#define SESSREG_DIR		"run/sessions"	/* under the data dir */
#define SESSREG_MAGIC		"vellum-sessions 1"
#define SESSREG_USER_MAX	320
#define SESSREG_SERVICE_MAX	15
/*
 * Logins and logouts within this long are written in one rewrite of the
 * file (ms): a burst of N logins costs a few rewrites, not N rewrites of
 * up to N lines on the event loop.  `who` lags by at most this much.
 */
#define SESSREG_FLUSH_MS	100

/*
 * Remembers the data dir and watches SIGUSR2 on the conn loop (called by
 * conn_loop_init()).  0, -1 (err: TEMP, the signal cannot be watched).
 */
int	sessreg_setup(const char *data_dir);
/*
 * A login on c as user (service "imap", "pop3", "smtp"): the process's
 * file is rewritten.  The entry is owned by the registry; give it back
 * with sessreg_remove() when the conn closes.  Never fails: a file that
 * cannot be written is logged (at most once a minute), the session goes
 * on.
 */
struct sessreg_entry *sessreg_add(struct conn *c, const char *service,
	    const char *user);
/* The logout (NULL: nothing); *ep becomes NULL. */
void	sessreg_remove(struct sessreg_entry **ep);
/* Removes this process's file (at exit). */
void	sessreg_cleanup(void);
/*
 * Handles this process's kick requests now (what SIGUSR2 does); returns
 * how many sessions were told to go.
 */
unsigned sessreg_kick_pending(void);

/* Readers (vellumctl) ----------------------------------------------- */

struct sessreg_session {
	char		user[SESSREG_USER_MAX + 1];
	char		service[SESSREG_SERVICE_MAX + 1];
	char		ip[64];
	unsigned	port;
	unsigned long	conn;
	int64_t		since;
	pid_t		pid;
};

typedef int sessreg_fn(const struct sessreg_session *, void *arg);

/*
 * Calls fn for each session of every live process (stale files are
 * skipped, and removed when we may).  fn returns 0 to go on, -1 to stop
 * (returned).  1 listed (also none), -1 error (err: TEMP, the dir cannot
 * be read; NOTFOUND is not an error: no daemon has logged anyone in).
 */
int	sessreg_list(const char *data_dir, sessreg_fn *fn, void *arg);
/*
 * Asks process pid (found by sessreg_list()) to close the sessions of
 * user (service NULL or "": every service).  1 asked, 0 the process is
 * gone, -1 error (err: TEMP, PERM when we may not signal it, CORRUPT
 * when the registry file is not a regular file or its owner is not the
 * process's user).
 */
int	sessreg_kick_request(const char *data_dir, pid_t pid, const char *user,
	    const char *service);
/* Whether pid is alive and started at start (clock ticks since boot). */
int	sessreg_pid_is(pid_t pid, unsigned long long start);

#endif
