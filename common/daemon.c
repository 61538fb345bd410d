/*
 * daemon.c - see daemon.h.
 *
 * Config errors are printed as they are ("FILE:LINE: message", one a
 * line) before logging starts, since the log settings come from the very
 * file that failed.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "error.h"
#include "log.h"

/* Exit status for bad arguments (1 is for a bad config or a failure). */
#define DAEMON_EXIT_USAGE	2
/* Highest log verbosity (log.h: 1 info, 2 debug). */
#define DAEMON_VERBOSE_MAX	2

static void	daemon_usage(const char *name, FILE *fp);

static void
daemon_usage(const char *name, FILE *fp)
{
	fprintf(fp, "usage: %s [-dv] [-c vellum.conf]\n"
	    "  -c FILE  read FILE (default: the embedded default of "
	    "`make run`:\n"
	    "           data in ./var, loopback ports)\n"
	    "  -d       log everything (debug)\n"
	    "  -v       log more (debug messages too)\n"
	    "  -h       show this help\n"
	    "See vellum.conf(5).\n", name);
}

void
daemon_setup(const char *name, int argc, char **argv, struct config *c)
{
	const char *path = NULL;
	char *errors = NULL;
	int ch, verbose = 0, to;

	opterr = 0;
	optind = 1;
	while ((ch = getopt(argc, argv, ":c:dvh")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			verbose = DAEMON_VERBOSE_MAX;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			daemon_usage(name, stdout);
			exit(0);
		case ':':
			fprintf(stderr, "%s: -%c needs an argument\n", name,
			    optopt);
			daemon_usage(name, stderr);
			exit(DAEMON_EXIT_USAGE);
		default:
			fprintf(stderr, "%s: unknown option -%c\n", name,
			    optopt);
			daemon_usage(name, stderr);
			exit(DAEMON_EXIT_USAGE);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", name,
		    argv[optind]);
		daemon_usage(name, stderr);
		exit(DAEMON_EXIT_USAGE);
	}

	if (path == NULL)
		config_default(c);
	else if (config_load(path, c, &errors) != 0) {
		if (errors != NULL)
			fputs(errors, stderr);
		fprintf(stderr, "%s: %s\n", name, err_msg());
		free(errors);
		exit(1);
	}

	to = c->log_syslog ? LOG_TO_SYSLOG : LOG_TO_STDERR;
	verbose += c->log_verbose;
	if (verbose > DAEMON_VERBOSE_MAX)
		verbose = DAEMON_VERBOSE_MAX;
	log_init(name, to, verbose);
	log_debug("configuration %s", path != NULL ? path :
	    "(embedded default)");
}

int
daemon_drop_privileges(const struct config *c)
{
	struct passwd *pw;

	if (c->user[0] == '\0' || geteuid() != 0)
		return 0;
	errno = 0;
	if ((pw = getpwnam(c->user)) == NULL) {
		if (errno != 0 && errno != ENOENT && errno != ESRCH)
			return err_set(ERR_TEMP, "cannot look up user %s: %s",
			    c->user, strerror(errno));
		return err_set(ERR_NOTFOUND, "%s: user = %s: no such user; "
		    "create it or change the user key", c->path[0] ? c->path :
		    "config", c->user);
	}
	if (pw->pw_uid == 0) {
		log_debug("user %s is root: nothing to drop", c->user);
		return 0;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) != 0)
		return err_set(ERR_PERM, "initgroups(%s): %s", pw->pw_name,
		    strerror(errno));
	if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0)
		return err_set(ERR_PERM, "setresgid(%lu): %s",
		    (unsigned long)pw->pw_gid, strerror(errno));
	if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
		return err_set(ERR_PERM, "setresuid(%lu): %s",
		    (unsigned long)pw->pw_uid, strerror(errno));
	/* Make sure there is no way back. */
	if (setuid(0) == 0 || geteuid() == 0)
		fatalx("still root after dropping privileges to %s", c->user);
	log_info("running as %s (uid %lu, gid %lu)", pw->pw_name,
	    (unsigned long)pw->pw_uid, (unsigned long)pw->pw_gid);
	return 0;
}

void
daemon_serve(const struct config *c)
{
	if (daemon_drop_privileges(c) == -1)
		fatalx("dropping privileges: %s", err_msg());
	log_info("ready");
	if (conn_loop_run() == -1)
		log_warnx("event loop: %s", err_msg());
	conn_loop_free();
	auth_done();
}
