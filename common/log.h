/*
 * log.h - logging and fatal errors.
 *
 * Messages go to stderr (or syslog after log_init() with LOG_TO_SYSLOG), one
 * line each, prefixed by the program name ("vellumctl: ...").  A daemon's
 * stderr lines (log_timestamps(1); daemon_load() turns it on) start
 * with the time in UTC, ISO 8601 with milliseconds, and name the pid as
 * syslog does: "2026-12-02T04:20:54.123Z vellum-smtpd[4242]: conn 7: ...",
 * so a log file without journald or syslog still says when and which
 * process (imapd's workers count connections each on their own); syslog
 * keeps its own time stamps.  A message's control characters (CR, LF,
 * ESC, any byte below 0x20 and DEL, e.g. in a user name a client sent)
 * are logged as '?', so one call is one line.  fatal()/fatalx() log and
 * exit(1): they are for broken invariants and start-up failures, never
 * for bad input.
 */
#ifndef VELLUM_LOG_H
#define VELLUM_LOG_H

#include <stdarg.h>

#define LOG_TO_STDERR	0
#define LOG_TO_SYSLOG	1

void	log_init(const char *progname, int to, int verbose);
int	log_verbose(void);
/* Where log_init() sent the log: LOG_TO_STDERR or LOG_TO_SYSLOG. */
int	log_target(void);
/* on: stderr lines get the time stamp described above (0: none). */
void	log_timestamps(int on);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* fatal() appends strerror(errno); fatalx() does not.  Both exit(1). */
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
