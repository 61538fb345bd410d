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
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "auth.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "error.h"
#include "log.h"
#include "xmalloc.h"

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
static int	daemon_tls_file(const char *what, const char *path);
static const char *daemon_ssl_error(void);
static void	daemon_ready(void);
static FILE	*daemon_status_open(const char *path, long uid);
static int	daemon_status_head(const char *path, long uid, char *buf,
		    size_t size);
static long	daemon_proc_uid(long pid);

static void
daemon_usage(const char *name, FILE *fp)
{
	fprintf(fp, "usage: %s [-dv] [-c vellum.conf]\n"
	    "  -c FILE  read FILE (default: the embedded default of "
	    "`make run`:\n"
	    "           data in ./var, loopback ports)\n"
	    "  -d       log everything (debug)\n"
	    "  -v       log more (debug messages too)\n"
	    "  -h, --help  show this help\n"
	    "See vellum.conf(5).\n", name);
}

void
daemon_setup(const char *name, int argc, char **argv, struct config *c)
{
	const char *path = NULL;
	int ch, verbose = 0, i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0) {
			daemon_usage(name, stdout);
			exit(0);
		}
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
			/* "--bogus": name it, not its second dash. */
			if (optopt == '-' && optind < argc &&
			    strncmp(argv[optind], "--", 2) == 0)
				fprintf(stderr, "%s: unknown option %s\n",
				    name, argv[optind]);
			else
				fprintf(stderr, "%s: unknown option -%c\n",
				    name, optopt);
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
	daemon_load(name, path, verbose, c);
}

void
daemon_load(const char *name, const char *path, int verbose,
    struct config *c)
{
	char *errors = NULL;
	int to;

	if (path == NULL)
		config_default(c);
	else if (config_load(path, c, &errors) != 0) {
		if (errors != NULL)
			fputs(errors, stderr);
		fprintf(stderr, "%s: %s\n", name, err_msg());
		free(errors);
		exit(1);
	}
	if (daemon_check_tls(c) != 0) {
		fprintf(stderr, "%s: %s\n", name, err_msg());
		exit(1);
	}

	to = c->log_syslog ? LOG_TO_SYSLOG : LOG_TO_STDERR;
	verbose += c->log_verbose;
	if (verbose > DAEMON_VERBOSE_MAX)
		verbose = DAEMON_VERBOSE_MAX;
	log_init(name, to, verbose);
	/* vellumd and every daemon: stderr lines say when and which pid. */
	log_timestamps(1);
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
	daemon_ready();
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

static const char *
daemon_ssl_error(void)
{
	static char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		return "not in PEM format";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* The file exists, is a regular file and can be read by us. */
static int
daemon_tls_file(const char *what, const char *path)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return err_set(errno == ENOENT ? ERR_NOTFOUND : ERR_PERM,
		    "[tls] %s %s: %s", what, path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(ERR_INVALID, "[tls] %s %s: not a regular file",
		    what, path);
	}
	close(fd);
	return 0;
}

int
daemon_check_tls(const struct config *c)
{
	SSL_CTX *ctx;
	EVP_PKEY *pkey;
	FILE *fp;
	int rc = 0, i;

	for (i = 0; i < SVC_COUNT; i++)
		if (c->svc[i].enabled)
			break;
	if (c->tls_cert[0] == '\0' || i == SVC_COUNT)
		return 0;	/* self-signed pair, or no service uses it */
	if (daemon_tls_file("cert", c->tls_cert) != 0 ||
	    daemon_tls_file("key", c->tls_key) != 0)
		return -1;
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return err_set(ERR_TEMP, "TLS: %s", daemon_ssl_error());
	if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) != 1)
		rc = err_set(ERR_INVALID, "[tls] cert %s: not a certificate "
		    "(%s)", c->tls_cert, daemon_ssl_error());
	else if ((fp = fopen(c->tls_key, "re")) == NULL)
		rc = err_set(ERR_TEMP, "[tls] key %s: %s", c->tls_key,
		    strerror(errno));
	else {
		pkey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
		fclose(fp);
		if (pkey == NULL)
			rc = err_set(ERR_INVALID, "[tls] key %s: not a private "
			    "key (%s)", c->tls_key, daemon_ssl_error());
		else if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1)
			rc = err_set(ERR_INVALID, "[tls] key %s does not match "
			    "cert %s", c->tls_key, c->tls_cert);
		EVP_PKEY_free(pkey);
	}
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return rc;
}

int
daemon_pidfile(const char *path, int *fd_r)
{
	char buf[32];
	struct stat st;
	ssize_t n;
	long other;
	int fd, len;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0644)) < 0)
		return err_set(ERR_TEMP, "pid file %s: %s", path,
		    strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		n = pread(fd, buf, sizeof(buf) - 1, 0);
		close(fd);
		if (e != EWOULDBLOCK)
			return err_set(ERR_TEMP, "pid file %s: lock: %s", path,
			    strerror(e));
		buf[n > 0 ? n : 0] = '\0';
		other = strtol(buf, NULL, 10);
		if (other > 0)
			return err_set(ERR_EXISTS, "another vellumd (pid %ld) "
			    "runs on this data dir: it holds %s", other, path);
		return err_set(ERR_EXISTS, "another vellumd runs on this data "
		    "dir: it holds %s", path);
	}
	/*
	 * data_dir belongs to the config's user and we may be root: a hard
	 * link planted there must not make us truncate another file.
	 */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(fd);
		return err_set(ERR_INVALID, "pid file %s: not a regular file "
		    "with one link; remove it", path);
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
		int e = errno;

		close(fd);
		return err_set(ERR_TEMP, "pid file %s: %s", path,
		    strerror(e));
	}
	*fd_r = fd;
	return 0;
}

/* The uid a process runs as (the owner of /proc/PID), -1 if unknown. */
static long
daemon_proc_uid(long pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%ld", pid);
	if (stat(path, &st) != 0)
		return -1;
	return (long)st.st_uid;
}

long
daemon_pidfile_read(const char *path)
{
	char buf[32];
	struct stat st;
	ssize_t n;
	long pid;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return err_set(errno == ENOENT ? ERR_NOTFOUND : ERR_TEMP,
		    "%s: %s (is vellumd running?)", path, strerror(errno));
	/* Whoever holds the lock runs; a free lock is a stale file. */
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		close(fd);
		return err_set(ERR_NOTFOUND, "vellumd is not running (%s is "
		    "not locked)", path);
	}
	if (fstat(fd, &st) != 0) {
		close(fd);
		return err_set(ERR_TEMP, "%s: %s", path, strerror(errno));
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	pid = strtol(buf, NULL, 10);
	if (pid <= 0)
		return err_set(ERR_TEMP, "%s holds no pid", path);
	/*
	 * data_dir belongs to the daemons' user: root trusts a pid there
	 * only from a file of root's, or one that names a process of the
	 * file's owner, so that the owner cannot make root's reload signal
	 * any other process.
	 */
	if (geteuid() == 0 && st.st_uid != 0 &&
	    daemon_proc_uid(pid) != (long)st.st_uid)
		return err_set(ERR_PERM, "%s (owner uid %lu) names pid %ld, "
		    "which is not a process of that user: not signalled",
		    path, (unsigned long)st.st_uid, pid);
	return pid;
}

/* vellumd's readiness pipe (vellumd.c): one byte, then closed. */
static void
daemon_ready(void)
{
	const char *v = getenv("VELLUM_READY_FD");
	char *end;
	long fd;

	if (v == NULL)
		return;
	errno = 0;
	fd = strtol(v, &end, 10);
	unsetenv("VELLUM_READY_FD");
	if (errno != 0 || *end != '\0' || fd < 3 || fd > INT_MAX)
		return;
	if (write((int)fd, "R", 1) != 1)
		log_debug("readiness pipe: %s", strerror(errno));
	close((int)fd);
}

/*
 * The status file, when it is a regular file of uid (vellumd's, which
 * writes it): in data_dir, the daemons' user could put anything there.
 */
static FILE *
daemon_status_open(const char *path, long uid)
{
	struct stat st;
	FILE *fp;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY)) < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (long)st.st_uid != uid || (fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return NULL;
	}
	return fp;
}

/* The first line of the status file, "" when there is none. */
static int
daemon_status_head(const char *path, long uid, char *buf, size_t size)
{
	FILE *fp;

	buf[0] = '\0';
	if ((fp = daemon_status_open(path, uid)) == NULL)
		return -1;
	if (fgets(buf, (int)size, fp) == NULL)
		buf[0] = '\0';
	fclose(fp);
	return 0;
}

int
daemon_reload_request(const struct config *c, char **msg_r)
{
	char pidpath[PATH_MAX + 32], stpath[PATH_MAX + 32], before[128];
	char now[128], state[32], *text, *nl;
	unsigned seq;
	long spid;
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	long pid, uid;
	unsigned i;
	FILE *fp;
	size_t len;

	*msg_r = NULL;
	snprintf(pidpath, sizeof(pidpath), "%s/%s", c->data_dir,
	    DAEMON_PID_FILE);
	snprintf(stpath, sizeof(stpath), "%s/%s", c->data_dir,
	    DAEMON_STATUS_FILE);
	if ((pid = daemon_pidfile_read(pidpath)) < 0) {
		*msg_r = xasprintf("%s\n", err_msg());
		return -1;
	}
	uid = daemon_proc_uid(pid);
	daemon_status_head(stpath, uid, before, sizeof(before));
	if (kill((pid_t)pid, SIGHUP) != 0) {
		*msg_r = xasprintf("cannot signal vellumd (pid %ld): %s%s\n",
		    pid, strerror(errno), errno == EPERM ? " (run this as "
		    "the user vellumd runs as, or root)" : "");
		return -1;
	}
	for (i = 0; i < DAEMON_RELOAD_WAIT * 20; i++) {
		nanosleep(&ts, NULL);
		if (daemon_status_head(stpath, uid, now, sizeof(now)) != 0 ||
		    strcmp(now, before) == 0)
			continue;
		if (sscanf(now, "%ld %u %31s", &spid, &seq, state) != 3)
			continue;
		if ((fp = daemon_status_open(stpath, uid)) == NULL)
			continue;
		text = NULL;
		len = 0;
		if (getdelim(&text, &len, '\0', fp) < 0) {
			free(text);
			text = NULL;
		}
		fclose(fp);
		nl = text != NULL ? strchr(text, '\n') : NULL;
		if (strcmp(state, "reloaded") == 0) {
			*msg_r = xasprintf("vellumd (pid %ld) reloaded its "
			    "configuration\n%s", pid, nl != NULL ? nl + 1 : "");
			free(text);
			return 0;
		}
		*msg_r = xasprintf("vellumd (pid %ld) %s the reload; it "
		    "keeps running as it was:\n%s", pid,
		    strcmp(state, "refused") == 0 ? "refused" : "failed",
		    nl != NULL ? nl + 1 : "");
		free(text);
		return -1;
	}
	*msg_r = xasprintf("vellumd (pid %ld) got SIGHUP but said nothing in "
	    "%d s; see its log\n", pid, DAEMON_RELOAD_WAIT);
	return -1;
}
