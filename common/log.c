/* log.c - see log.h */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_prog = "vellum";
static int log_to = LOG_TO_STDERR;
static int log_verb;
static int log_stamps;

static void log_vlog(int, const char *, const char *, va_list);

void
log_init(const char *progname, int to, int verbose)
{
	log_prog = progname;
	log_to = to;
	log_verb = verbose;
	if (to == LOG_TO_SYSLOG)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

int
log_verbose(void)
{
	return log_verb;
}

int
log_target(void)
{
	return log_to;
}

void
log_timestamps(int on)
{
	log_stamps = on;
}

/* "2026-12-02T04:20:54.123Z" (UTC) when stamps are on, else "". */
static void
log_stamp(char *buf, size_t size)
{
	struct timeval tv;
	struct tm tm;
	size_t n;

	buf[0] = '\0';
	if (!log_stamps)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%03uZ",
	    (unsigned)(tv.tv_usec / 1000) % 1000);
}

/*
 * Control characters (C0 and DEL) in a formatted message become '?', as
 * Postfix logs them: a user name, HELO or address a client sent cannot
 * start a line of its own (a forged log entry for journald, fail2ban or
 * a reader of the file) nor send escape sequences to a terminal.
 */
static void
log_sanitize(char *buf)
{
	unsigned char *p;

	for (p = (unsigned char *)buf; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static void
log_vlog(int pri, const char *suffix, const char *fmt, va_list ap)
{
	char buf[2048], stamp[64];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_sanitize(buf);
	if (log_to == LOG_TO_SYSLOG) {
		if (suffix != NULL)
			syslog(pri, "%s: %s", buf, suffix);
		else
			syslog(pri, "%s", buf);
		return;
	}
	if (!log_stamps) {
		if (suffix != NULL)
			fprintf(stderr, "%s: %s: %s\n", log_prog, buf, suffix);
		else
			fprintf(stderr, "%s: %s\n", log_prog, buf);
		return;
	}
	log_stamp(stamp, sizeof(stamp));
	if (suffix != NULL)
		fprintf(stderr, "%s %s[%ld]: %s: %s\n", stamp, log_prog,
		    (long)getpid(), buf, suffix);
	else
		fprintf(stderr, "%s %s[%ld]: %s\n", stamp, log_prog,
		    (long)getpid(), buf);
}

#define LOG_BODY(pri, suffix) do {			\
	va_list ap;					\
	va_start(ap, fmt);				\
	log_vlog((pri), (suffix), fmt, ap);		\
	va_end(ap);					\
} while (0)

void
log_warn(const char *fmt, ...)
{
	const char *e = strerror(errno);

	LOG_BODY(LOG_WARNING, e);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, NULL);
}

void
log_info(const char *fmt, ...)
{
	if (log_verb < 1 && log_to == LOG_TO_STDERR)
		return;
	LOG_BODY(LOG_INFO, NULL);
}

void
log_debug(const char *fmt, ...)
{
	if (log_verb < 2)
		return;
	LOG_BODY(LOG_DEBUG, NULL);
}

void
fatal(const char *fmt, ...)
{
	const char *e = strerror(errno);

	LOG_BODY(LOG_CRIT, e);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, NULL);
	exit(1);
}
