/*
 * daemon.h - what every daemon does at start: parse `-c FILE` (and -d
 * for debug logging), load the config, set up logging, open the store,
 * and drop root after binding its ports.
 */
#ifndef VELLUM_DAEMON_H
#define VELLUM_DAEMON_H

#include <stddef.h>

struct config;

/* vellumd's files in data_dir: its pid (locked) and its last outcome. */
#define DAEMON_PID_FILE		"vellumd.pid"
#define DAEMON_STATUS_FILE	"vellumd.status"
/* How long `vellumd reload` waits for the outcome, in seconds. */
#define DAEMON_RELOAD_WAIT	120

/*
 * Parses argv ("-c FILE", "-v" more logging, "-h" or "--help": usage
 * on stdout, exit 0), loads the config
 * (the embedded default without -c) into c, starts logging under name.
 * Exits 2 with usage on bad arguments, 1 with the config errors printed.
 */
void	daemon_setup(const char *name, int argc, char **argv,
	    struct config *c);
/*
 * The part of daemon_setup() after the arguments: loads path (NULL: the
 * embedded default) into c, checks the [tls] files (daemon_check_tls()),
 * starts logging under name with verbose added to the config's level,
 * stderr lines with time stamps (log_timestamps()).
 * Exits 1 with the errors on stderr.
 */
void	daemon_load(const char *name, const char *path, int verbose,
	    struct config *c);
/*
 * A configured [tls] cert and key (none: the self-signed pair, 0) must be
 * regular files we can read, a PEM certificate (chain) and its private
 * key, when a service section is there (vellum-mta and vellum-fs alone
 * need no cert).  0, or -1 with err_msg() naming the file and what is wrong.
 */
int	daemon_check_tls(const struct config *);
/*
 * Creates path, takes an exclusive flock(2) on it and writes our pid;
 * the lock lives as long as *fd_r (close-on-exec) stays open.  -1 with
 * ERR_EXISTS naming the holder's pid when another process has it.
 */
int	daemon_pidfile(const char *path, int *fd_r);
/*
 * The pid in a pid file that its owner still holds locked; -1 with
 * ERR_NOTFOUND when nobody runs (no file, or not locked).  As root, a
 * file not root's must name a process of its owner (else -1, ERR_PERM):
 * the daemons' user, who owns data_dir, cannot aim root's signal.
 */
long	daemon_pidfile_read(const char *path);
/* Drops root to the config's user (if set and we are root). */
int	daemon_drop_privileges(const struct config *);
/*
 * After the listeners are set up: drops root, tells vellumd it is ready
 * (one byte on the descriptor in $VELLUM_READY_FD, then closed), runs
 * the event loop until
 * shutdown, then frees the loop and the SASL library.  Exits 1 when root
 * cannot be dropped.
 */
void	daemon_serve(const struct config *);

/*
 * Asks the vellumd of c's data_dir to reload (SIGHUP to the pid in its
 * locked pid file) and waits for the outcome in its status file.  0 when
 * it reloaded, -1 when it refused (a config error: *msg_r has the
 * errors), failed, or does not run.  *msg_r (malloc'd, may be NULL) is
 * what to print, one line or more, each ending in a newline.
 */
int	daemon_reload_request(const struct config *c, char **msg_r);

/*
 * 1 when /dev/fuse is a usable FUSE device (it exists, is the FUSE
 * character device, opens read-write); else 0 with why (may be NULL)
 * saying what is wrong and what to do.  vellumd asks before starting
 * vellum-fs; vellum-fs before mounting.
 */
int	daemon_fuse_available(char *why, size_t whysize);
/*
 * daemon_fuse_available() on the device node at path instead of
 * /dev/fuse (the messages name path): for tests.
 */
int	daemon_fuse_check(const char *path, char *why, size_t whysize);

#endif
