/*
 * log.h - logging and fatal errors.
 *
 * Messages go to stderr (or syslog after log_init() with LOG_TO_SYSLOG), one
 * line each, prefixed by the program name.  fatal()/fatalx() log and exit(1):
 * they are for broken invariants and start-up failures, never for bad input.
 */
#ifndef VELLUM_LOG_H
#define VELLUM_LOG_H

#include <stdarg.h>

#define LOG_TO_STDERR	0
#define LOG_TO_SYSLOG	1

void	log_init(const char *progname, int to, int verbose);
int	log_verbose(void);
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
