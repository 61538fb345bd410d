/*
 * daemon.c - see daemon.h.
 *
 * Config errors are printed as they are ("FILE:LINE: message", one a
 * line) before logging starts, since the log settings come from the very
 * file that failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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
/* The FUSE device: a misc character device (Linux devices.txt). */
#define DAEMON_FUSE_PATH	"/dev/fuse"
#define DAEMON_FUSE_MAJOR	10
#define DAEMON_FUSE_MINOR	229

static void	daemon_usage(const char *name, FILE *fp);
static int	daemon_why(char *why, size_t whysize, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
static const char *daemon_file_kind(mode_t mode);

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

/* Writes the reason into why (when there is room); returns 0. */
static int
daemon_why(char *why, size_t whysize, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whysize == 0)
		return 0;
	va_start(ap, fmt);
	vsnprintf(why, whysize, fmt, ap);
	va_end(ap);
	return 0;
}

static const char *
daemon_file_kind(mode_t mode)
{
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a device";
}

int
daemon_fuse_available(char *why, size_t whysize)
{
	return daemon_fuse_check(DAEMON_FUSE_PATH, why, whysize);
}

/*
 * Each case says what to do about it: the module or the container's
 * device list when the node is missing or has no driver, the device
 * rules or root when it cannot be opened.  Opening the device without
 * mounting anything is harmless: the kernel only sets up a connection
 * when the descriptor is passed to mount(2).
 */
int
daemon_fuse_check(const char *path, char *why, size_t whysize)
{
	struct stat st;
	int fd;

	if (why != NULL && whysize > 0)
		why[0] = '\0';
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return daemon_why(why, whysize, "no %s: load the fuse "
			    "module (modprobe fuse) or run the container with "
			    "--device /dev/fuse", path);
		return daemon_why(why, whysize, "cannot stat %s: %s", path,
		    strerror(errno));
	}
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
		if (!S_ISCHR(st.st_mode) ||
		    major(st.st_rdev) != DAEMON_FUSE_MAJOR ||
		    minor(st.st_rdev) != DAEMON_FUSE_MINOR)
			return daemon_why(why, whysize, "%s is not the FUSE "
			    "device (%s %u:%u): it should be char %d:%d "
			    "(mknod %s c %d %d)", path,
			    S_ISCHR(st.st_mode) ? "char" : "block",
			    major(st.st_rdev), minor(st.st_rdev),
			    DAEMON_FUSE_MAJOR, DAEMON_FUSE_MINOR, path,
			    DAEMON_FUSE_MAJOR, DAEMON_FUSE_MINOR);
	} else
		return daemon_why(why, whysize, "%s is not the FUSE device "
		    "(%s): it should be char %d:%d (mknod %s c %d %d)", path,
		    daemon_file_kind(st.st_mode), DAEMON_FUSE_MAJOR,
		    DAEMON_FUSE_MINOR, path, DAEMON_FUSE_MAJOR,
		    DAEMON_FUSE_MINOR);
	if ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY)) < 0) {
		const char *hint;
		int e = errno;

		switch (e) {
		case EACCES:
			hint = ": mounting needs root; run vellum-fs "
			    "(or vellumd) as root";
			break;
		case EPERM:
			hint = ": the device rules deny it; run the "
			    "container with --device /dev/fuse";
			break;
		case ENODEV:
		case ENXIO:
			hint = ": the fuse module is not loaded (modprobe fuse)";
			break;
		default:
			hint = "";
			break;
		}
		return daemon_why(why, whysize, "cannot open %s: %s%s", path,
		    strerror(e), hint);
	}
	close(fd);
	return 1;
}
