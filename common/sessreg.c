/* sessreg.c - see sessreg.h */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "error.h"
#include "log.h"
#include "sessreg.h"
#include "xmalloc.h"

/* A request file is small; more than this is not ours. */
#define SESSREG_KICK_MAX	4096
/* A registry file that cannot be written is logged this often (s). */
#define SESSREG_WARN_EVERY	60

struct sessreg_entry {
	struct conn		*conn;
	char			 user[SESSREG_USER_MAX + 1];
	char			 service[SESSREG_SERVICE_MAX + 1];
	int64_t			 since;
	struct sessreg_entry	*next;
};

static char			 reg_dir[PATH_MAX];	/* "" until setup */
static struct sessreg_entry	*reg_list;
static pid_t			 reg_pid;	/* whose reg_list it is */
static struct event		*reg_sig;
static struct event		*reg_flush;	/* pending rewrite */
static time_t			 reg_warned;

static void	sessreg_sig_cb(evutil_socket_t, short, void *);
static void	sessreg_write(void);
static void	sessreg_changed(void);
static void	sessreg_flush_cb(evutil_socket_t, short, void *);
static int	sessreg_mkdirs(void);
static int	sessreg_self_start(unsigned long long *start_r);
static int	sessreg_header(const char *path, pid_t *pid_r,
		    unsigned long long *start_r, uid_t *uid_r, FILE **fp_r);
static int	sessreg_pid_euid(pid_t, uid_t *);

int
sessreg_setup(const char *data_dir)
{
	int n;

	n = snprintf(reg_dir, sizeof(reg_dir), "%s/%s", data_dir,
	    SESSREG_DIR);
	if (n < 0 || (size_t)n >= sizeof(reg_dir)) {
		reg_dir[0] = '\0';
		return err_set(ERR_INVALID, "data dir path too long");
	}
	if (reg_sig != NULL)
		return 0;
	if ((reg_sig = evsignal_new(conn_base(), SIGUSR2, sessreg_sig_cb,
	    NULL)) == NULL || evsignal_add(reg_sig, NULL) == -1)
		return err_set(ERR_TEMP, "cannot watch SIGUSR2 (kick)");
	if ((reg_flush = evtimer_new(conn_base(), sessreg_flush_cb,
	    NULL)) == NULL)
		return err_set(ERR_TEMP, "cannot make the registry's timer");
	return 0;
}

/* A session came or went: rewrite the file soon, once for a burst. */
static void
sessreg_changed(void)
{
	struct timeval tv = { 0, SESSREG_FLUSH_MS * 1000 };

	if (reg_flush == NULL) {
		sessreg_write();
		return;
	}
	if (!evtimer_pending(reg_flush, NULL))
		evtimer_add(reg_flush, &tv);
}

static void
sessreg_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sessreg_write();
}

static void
sessreg_sig_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	sessreg_kick_pending();
}

/* A process forked after logins (none today) starts empty. */
static void
sessreg_own(void)
{
	struct sessreg_entry *e;

	if (reg_pid == getpid())
		return;
	while ((e = reg_list) != NULL) {
		reg_list = e->next;
		free(e);
	}
	reg_pid = getpid();
}

struct sessreg_entry *
sessreg_add(struct conn *c, const char *service, const char *user)
{
	struct sessreg_entry *e;

	sessreg_own();
	e = xcalloc(1, sizeof(*e));
	e->conn = c;
	snprintf(e->user, sizeof(e->user), "%s", user);
	snprintf(e->service, sizeof(e->service), "%s", service);
	e->since = (int64_t)time(NULL);
	e->next = reg_list;
	reg_list = e;
	sessreg_changed();
	return e;
}

void
sessreg_remove(struct sessreg_entry **ep)
{
	struct sessreg_entry **pp, *e = *ep;

	if (e == NULL)
		return;
	*ep = NULL;
	for (pp = &reg_list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	free(e);
	sessreg_changed();
}

void
sessreg_cleanup(void)
{
	char path[PATH_MAX + 32];

	if (reg_flush != NULL)
		event_free(reg_flush);
	if (reg_sig != NULL)
		event_free(reg_sig);
	reg_flush = reg_sig = NULL;
	if (reg_dir[0] == '\0' || reg_pid != getpid())
		return;
	snprintf(path, sizeof(path), "%s/%ld.sess", reg_dir, (long)reg_pid);
	unlink(path);
}

static int
sessreg_mkdirs(void)
{
	char path[PATH_MAX];
	char *slash;

	snprintf(path, sizeof(path), "%s", reg_dir);
	/* DATA_DIR/run, then DATA_DIR/run/sessions */
	if ((slash = strrchr(path, '/')) != NULL) {
		*slash = '\0';
		if (mkdir(path, 0750) == -1 && errno != EEXIST)
			return err_set(ERR_TEMP, "mkdir %s: %s", path,
			    strerror(errno));
	}
	if (mkdir(reg_dir, 0750) == -1 && errno != EEXIST)
		return err_set(ERR_TEMP, "mkdir %s: %s", reg_dir,
		    strerror(errno));
	return 0;
}

/* The start time of this process, for the file's header. */
static int
sessreg_self_start(unsigned long long *start_r)
{
	static unsigned long long start;
	static pid_t start_pid;
	char path[64], buf[1024], *p;
	unsigned long long v;
	FILE *f;
	size_t n;
	int i;

	if (start_pid == getpid() && start != 0) {
		*start_r = start;
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)getpid());
	if ((f = fopen(path, "r")) == NULL)
		return err_set(ERR_TEMP, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return err_set(ERR_TEMP, "%s: unexpected format", path);
	p++;
	/* after ")": state is field 3, starttime field 22 */
	for (i = 3; i <= 22; i++) {
		while (*p == ' ')
			p++;
		if (i == 22)
			break;
		p = strchr(p, ' ');
		if (p == NULL)
			return err_set(ERR_TEMP, "%s: too few fields", path);
	}
	if (sscanf(p, "%llu", &v) != 1)
		return err_set(ERR_TEMP, "%s: no start time", path);
	start = v;
	start_pid = getpid();
	*start_r = v;
	return 0;
}

/* Rewrites this process's file whole (or removes it: no session left). */
static void
sessreg_write(void)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 48];
	struct sessreg_entry *e;
	unsigned long long start = 0;
	time_t now = time(NULL);
	FILE *f;
	int bad;

	if (reg_dir[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/%ld.sess", reg_dir, (long)getpid());
	if (reg_list == NULL) {
		if (unlink(path) == -1 && errno != ENOENT)
			goto fail_errno;
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s/.%ld.sess.tmp", reg_dir,
	    (long)getpid());
	if (sessreg_self_start(&start) == -1 || sessreg_mkdirs() == -1)
		goto fail;
	if ((f = fopen(tmp, "w")) == NULL)
		goto fail_errno;
	fprintf(f, "%s %ld %llu\n", SESSREG_MAGIC, (long)getpid(), start);
	for (e = reg_list; e != NULL; e = e->next)
		fprintf(f, "%s\t%s\t%s\t%s\t%lu\t%" PRId64 "\n", e->user,
		    e->service, conn_peer(e->conn), conn_peer_port(e->conn),
		    conn_id(e->conn), e->since);
	bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		unlink(tmp);
		goto fail_errno;
	}
	if (rename(tmp, path) == -1) {
		unlink(tmp);
		goto fail_errno;
	}
	return;
fail_errno:
	err_set(ERR_TEMP, "%s: %s", path, strerror(errno));
fail:
	if (now - reg_warned >= SESSREG_WARN_EVERY) {
		reg_warned = now;
		log_warnx("session registry (vellumctl who): %s", err_msg());
	}
}

/* Applies one request file's lines; returns the sessions told to go. */
static unsigned
sessreg_kick_file(const char *path)
{
	char buf[SESSREG_KICK_MAX + 1], *line, *save = NULL, *tab;
	struct sessreg_entry *e;
	unsigned n = 0;
	size_t len;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	len = fread(buf, 1, SESSREG_KICK_MAX, f);
	fclose(f);
	unlink(path);
	buf[len] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if ((tab = strchr(line, '\t')) == NULL)
			continue;
		*tab++ = '\0';
		for (e = reg_list; e != NULL; e = e->next) {
			if (strcasecmp(e->user, line) != 0 ||
			    (strcmp(tab, "*") != 0 &&
			    strcmp(tab, e->service) != 0))
				continue;
			log_info("conn %lu: user=%s %s session closed by the "
			    "administrator (vellumctl kick)", conn_id(e->conn),
			    e->user, e->service);
			conn_kick(e->conn);
			n++;
		}
	}
	return n;
}

unsigned
sessreg_kick_pending(void)
{
	char prefix[32], path[PATH_MAX + NAME_MAX + 2];
	struct dirent *de;
	unsigned n = 0;
	size_t plen;
	DIR *d;

	if (reg_dir[0] == '\0' || (d = opendir(reg_dir)) == NULL)
		return 0;
	snprintf(prefix, sizeof(prefix), "%ld.kick.", (long)getpid());
	plen = strlen(prefix);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, plen) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", reg_dir, de->d_name);
		n += sessreg_kick_file(path);
	}
	closedir(d);
	return n;
}

/* Readers ------------------------------------------------------------ */

int
sessreg_pid_is(pid_t pid, unsigned long long start)
{
	char path[64], buf[1024], *p, state;
	unsigned long long v;
	FILE *f;
	size_t n;
	int i;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	p++;
	for (i = 3; i <= 22; i++) {
		while (*p == ' ')
			p++;
		if (i == 3) {
			state = *p;
			if (state == 'Z' || state == 'X')
				return 0;
		}
		if (i == 22)
			break;
		if ((p = strchr(p, ' ')) == NULL)
			return 0;
	}
	return sscanf(p, "%llu", &v) == 1 && v == start;
}

/*
 * Opens a registry file and reads its header (pid, start) and its owner
 * (uid_r, NULL: not wanted).  Only a regular file is read, never through
 * a symbolic link: vellumctl may run as root in a directory the daemons'
 * user writes.
 */
static int
sessreg_header(const char *path, pid_t *pid_r, unsigned long long *start_r,
    uid_t *uid_r, FILE **fp_r)
{
	char line[128];
	struct stat sb;
	long pid;
	FILE *f;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return err_set(errno == ENOENT ? ERR_NOTFOUND : ERR_TEMP,
		    "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return err_set(ERR_CORRUPT, "%s: not a regular file", path);
	}
	if (uid_r != NULL)
		*uid_r = sb.st_uid;
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return err_set(ERR_TEMP, "%s: %s", path, strerror(errno));
	}
	if (fgets(line, sizeof(line), f) == NULL ||
	    strncmp(line, SESSREG_MAGIC " ", strlen(SESSREG_MAGIC) + 1) != 0 ||
	    sscanf(line + strlen(SESSREG_MAGIC), " %ld %llu", &pid,
	    start_r) != 2) {
		fclose(f);
		return err_set(ERR_CORRUPT, "%s: not a session registry",
		    path);
	}
	*pid_r = (pid_t)pid;
	if (fp_r != NULL)
		*fp_r = f;
	else
		fclose(f);
	return 0;
}

/* One "USER \t SERVICE \t IP \t PORT \t CONN \t SINCE" line. */
static int
sessreg_parse(char *line, struct sessreg_session *s)
{
	char *f[6], *save = NULL;
	int i;

	line[strcspn(line, "\r\n")] = '\0';
	for (i = 0; i < 6; i++)
		if ((f[i] = strtok_r(i == 0 ? line : NULL, "\t", &save)) ==
		    NULL)
			return -1;
	snprintf(s->user, sizeof(s->user), "%s", f[0]);
	snprintf(s->service, sizeof(s->service), "%s", f[1]);
	snprintf(s->ip, sizeof(s->ip), "%s", f[2]);
	s->port = (unsigned)strtoul(f[3], NULL, 10);
	s->conn = strtoul(f[4], NULL, 10);
	s->since = (int64_t)strtoll(f[5], NULL, 10);
	return 0;
}

int
sessreg_list(const char *data_dir, sessreg_fn *fn, void *arg)
{
	char dir[PATH_MAX], path[PATH_MAX + NAME_MAX + 2], line[1024];
	struct sessreg_session s;
	unsigned long long start;
	struct dirent *de;
	size_t len;
	pid_t pid;
	FILE *f;
	DIR *d;
	int rc = 1;

	snprintf(dir, sizeof(dir), "%s/%s", data_dir, SESSREG_DIR);
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return 1;
		return err_set(ERR_TEMP, "%s: %s", dir, strerror(errno));
	}
	while (rc == 1 && (de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 6 ||
		    strcmp(de->d_name + len - 5, ".sess") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (sessreg_header(path, &pid, &start, NULL, &f) == -1)
			continue;
		if (!sessreg_pid_is(pid, start)) {
			fclose(f);
			unlink(path);	/* stale: when we may */
			continue;
		}
		while (fgets(line, sizeof(line), f) != NULL) {
			memset(&s, 0, sizeof(s));
			if (sessreg_parse(line, &s) == -1)
				continue;
			s.pid = pid;
			if (fn(&s, arg) == -1) {
				rc = -1;
				break;
			}
		}
		fclose(f);
	}
	closedir(d);
	return rc;
}

/* The effective uid of a process (/proc/PID/status). 0, -1 gone. */
static int
sessreg_pid_euid(pid_t pid, uid_t *uid_r)
{
	char path[64], line[256];
	unsigned long r, e;
	FILE *f;
	int rc = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Uid: %lu %lu", &r, &e) == 2) {
			*uid_r = (uid_t)e;
			rc = 0;
			break;
		}
	fclose(f);
	return rc;
}

int
sessreg_kick_request(const char *data_dir, pid_t pid, const char *user,
    const char *service)
{
	static unsigned seq;
	char dir[PATH_MAX], path[PATH_MAX + 64], tmp[PATH_MAX + 64];
	unsigned long long start;
	uid_t owner, euid;
	pid_t fpid;
	FILE *f;
	int bad, fd;

	snprintf(dir, sizeof(dir), "%s/%s", data_dir, SESSREG_DIR);
	snprintf(path, sizeof(path), "%s/%ld.sess", dir, (long)pid);
	if (sessreg_header(path, &fpid, &start, &owner, NULL) == -1)
		return err_class() == ERR_NOTFOUND ? 0 : -1;
	if (fpid != pid || !sessreg_pid_is(pid, start))
		return 0;
	/*
	 * A daemon writes its own file: one naming a process of another
	 * user was not written by it (root's vellumctl must not signal
	 * what the daemons' user could not).
	 */
	if (sessreg_pid_euid(pid, &euid) == -1)
		return 0;
	if (euid != owner)
		return err_set(ERR_CORRUPT, "%s names pid %ld, which runs as "
		    "another user than the file's owner: not signalled", path,
		    (long)pid);
	/*
	 * A new file of an unpredictable name (O_EXCL: never through a
	 * link someone put there), readable by the daemon whatever our
	 * umask; the request names no secret.
	 */
	snprintf(tmp, sizeof(tmp), "%s/.%ld.kick.tmp.XXXXXX", dir,
	    (long)pid);
	snprintf(path, sizeof(path), "%s/%ld.kick.%ld.%u", dir, (long)pid,
	    (long)getpid(), seq++);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1)
		return err_set(errno == EACCES ? ERR_PERM : ERR_TEMP,
		    "%s: %s", tmp, strerror(errno));
	if (fchmod(fd, 0644) == -1 || (f = fdopen(fd, "w")) == NULL) {
		err_set(ERR_TEMP, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	fprintf(f, "%s\t%s\n", user, service != NULL && service[0] != '\0' ?
	    service : "*");
	bad = ferror(f);
	if (fclose(f) != 0 || bad || rename(tmp, path) == -1) {
		err_set(ERR_TEMP, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (kill(pid, SIGUSR2) == -1) {
		int e = errno;

		unlink(path);
		if (e == ESRCH)
			return 0;
		return err_set(e == EPERM ? ERR_PERM : ERR_TEMP, "signal to "
		    "pid %ld: %s", (long)pid, strerror(e));
	}
	return 1;
}
