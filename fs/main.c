/*
 * main.c - vellum-fs: mounts the file view and serves it (man/vellum-fs.8).
 *
 * Two processes.  The parent stays root: it mounts, forks the server,
 * and when the server ends (SIGTERM forwarded, a crash, a kill -9)
 * unmounts lazily and exits with the server's status, so no dead mount
 * is left behind.  The server opens the store, drops to the config's
 * user and runs one libevent loop over /dev/fuse and the store's change
 * notifications.  A kill -9 of the parent takes the server with it
 * (PR_SET_PDEATHSIG); the dead mount that leaves is lazily unmounted at
 * the next start.
 *
 * Why not drop privileges in one process: unmounting a file system that
 * root mounted needs root (fusermount3 only unmounts what a user mounted
 * itself), and mounting as the unprivileged user instead would need
 * user_allow_other in /etc/fuse.conf for allow_other.
 */
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/daemon.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "fs/fs.h"
#include "fs/node.h"
#include "store/learn.h"
#include "store/notify.h"
#include "store/store.h"
#include "store/user.h"

/* Requests handled per wake-up before the loop looks at other events. */
#define FS_BATCH	64
/*
 * Resident pages of the store's map above this are let go (the kernel
 * keeps them cached): reading a whole corpus must not show as a process
 * of hundreds of MiB.  Checked every FS_RSS_EVERY requests.
 */
#define FS_RSS_FILE_MAX	(8 * 1024 * 1024)
#define FS_RSS_EVERY	64
/* How often names programs gave (aliases) are checked for expiry. */
#define FS_SWEEP_SECONDS	5
/* Mailbox ids collected from one drain of notifications. */
#define FS_NOTIFY_IDS	4096

static struct event_base	*fs_base;
static struct fuse_buf		 fs_buf;
static struct store_notify	*fs_notify;
static uint32_t			 fs_ids[FS_NOTIFY_IDS];
static size_t			 fs_nids;
static int			 fs_all;

static void	fs_mkdirs(const char *);
static void	fs_unmount_stale(const char *);
static int	fs_parent(pid_t, const char *);
static void	fs_serve(struct config *, const char *);
static void	fs_tmp_chown(int, const char *);

static void
fs_mkdirs(const char *path)
{
	char buf[PATH_MAX], *p;

	if (strlen(path) >= sizeof(buf))
		fatalx("[fs] mountpoint is too long");
	strcpy(buf, path);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			fatal("cannot create %s", buf);
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST && errno != ENOTCONN)
		fatal("cannot create %s", buf);
}

/*
 * Whether path is a mount point of ours in /proc/self/mountinfo (field 5
 * is the mount point, the type follows " - ").
 */
static int
fs_mounted(const char *path)
{
	char line[4096], mp[PATH_MAX], *sep;
	int found = 0;
	FILE *fp;

	if ((fp = fopen("/proc/self/mountinfo", "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		if (strcmp(mp, path) != 0 || (sep = strstr(line, " - ")) ==
		    NULL)
			continue;
		if (strncmp(sep + 3, "fuse", 4) == 0)
			found = 1;
	}
	fclose(fp);
	return found;
}

/* A mount left by a vellum-fs that was killed: lazily unmounted. */
static void
fs_unmount_stale(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && !fs_mounted(path))
		return;
	if (stat(path, &st) == 0)
		fatalx("%s is mounted and answering: another vellum-fs "
		    "serves it (stop it first)", path);
	if (errno != ENOTCONN && errno != ECONNABORTED && !fs_mounted(path))
		return;
	if (umount2(path, MNT_DETACH) < 0)
		fatal("cannot unmount the dead mount at %s", path);
	log_info("unmounted a dead mount left at %s", path);
}

/* Waits for the server; forwards stop signals; unmounts at the end. */
static int
fs_parent(pid_t child, const char *mnt)
{
	siginfo_t si;
	sigset_t set;
	int status = 0, sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	for (;;) {
		if ((sig = sigwaitinfo(&set, &si)) < 0) {
			if (errno == EINTR)
				continue;
			fatal("sigwaitinfo");
		}
		if (sig != SIGCHLD) {
			kill(child, SIGTERM);
			continue;
		}
		if (waitpid(child, &status, WNOHANG) == child)
			break;
	}
	if (umount2(mnt, MNT_DETACH) < 0 && errno != EINVAL &&
	    errno != ENOENT)
		log_warn("unmounting %s", mnt);
	else
		log_info("unmounted %s", mnt);
	if (WIFSIGNALED(status)) {
		log_warnx("the server died of signal %d", WTERMSIG(status));
		return 1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* --- the server ------------------------------------------------------ */

/*
 * What is under DATA_DIR/fstmp (a directory per folder area, files in
 * it) goes to the daemon's user: made while vellum-fs served as root, it
 * must stay usable after `user = NAME` is set.  Nothing there is a
 * symlink (vellum-fs makes none), and none is followed.
 */
static void
fs_tmp_chown(int dfd, const char *path)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd, sub;

	/* Its own open: a dup would share (and move) dfd's position. */
	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if ((st.st_uid != fs.uid || st.st_gid != fs.gid) &&
		    fchownat(dirfd(d), de->d_name, fs.uid, fs.gid,
		    AT_SYMLINK_NOFOLLOW) < 0)
			log_warn("cannot give %s/%s to the daemon's user", path,
			    de->d_name);
		if (!S_ISDIR(st.st_mode) || dfd != fs.tmpdirfd)
			continue;
		/* One level down: the files of a folder area. */
		if ((sub = openat(dirfd(d), de->d_name, O_RDONLY |
		    O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0)
			continue;
		fs_tmp_chown(sub, path);
		close(sub);
	}
	closedir(d);
}

/* Lets the store's mapped pages go when too many are resident. */
static void
fs_rss_check(void)
{
	static long pagesize;
	unsigned long size, resident, shared;
	FILE *fp;
	int n;

	if (pagesize == 0)
		pagesize = sysconf(_SC_PAGESIZE);
	if ((fp = fopen("/proc/self/statm", "r")) == NULL)
		return;
	n = fscanf(fp, "%lu %lu %lu", &size, &resident, &shared);
	fclose(fp);
	if (n == 3 && shared * (unsigned long)pagesize > FS_RSS_FILE_MAX)
		store_release_pages(fs.store);
}

static void
fs_on_fuse(evutil_socket_t fd, short what, void *arg)
{
	static unsigned requests;
	int i, res;

	(void)fd;
	(void)what;
	(void)arg;
	for (i = 0; i < FS_BATCH; i++) {
		res = fuse_session_receive_buf(fs.se, &fs_buf);
		if (res == -EAGAIN || res == -EINTR)
			return;
		if (res <= 0 || fuse_session_exited(fs.se)) {
			if (res < 0)
				log_warnx("reading /dev/fuse: %s",
				    strerror(-res));
			log_info("the file system was unmounted");
			event_base_loopexit(fs_base, NULL);
			return;
		}
		fuse_session_process_buf(fs.se, &fs_buf);
		if (++requests % FS_RSS_EVERY == 0)
			fs_rss_check();
	}
}

static void
fs_collect(uint32_t id, void *ctx)
{
	size_t i;

	(void)ctx;
	if (id == 0 || fs_nids == FS_NOTIFY_IDS) {
		fs_all = 1;
		return;
	}
	for (i = 0; i < fs_nids; i++)
		if (fs_ids[i] == id)
			return;
	fs_ids[fs_nids++] = id;
}

static void
fs_on_notify(evutil_socket_t fd, short what, void *arg)
{
	size_t i;

	(void)fd;
	(void)what;
	(void)arg;
	fs_nids = 0;
	fs_all = 0;
	if (store_notify_drain(fs_notify, fs_collect, NULL) < 0)
		log_warnx("store notifications: %s", err_msg());
	for (i = 0; i < fs_nids; i++) {
		fs_track_sync(fs_ids[i]);
		fs_tmp_sweep(fs_ids[i]);
	}
	if (fs_all) {
		fs_track_sync(0);
		fs_tmp_sweep(0);
	}
}

static void
fs_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	fs_alias_sweep();
}

static void
fs_on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	log_info("signal %d: stopping", (int)sig);
	event_base_loopexit(fs_base, NULL);
}

static void
fs_serve(struct config *cfg, const char *mnt)
{
	struct event *ev_fuse, *ev_notify, *ev_sig[3], *ev_timer;
	struct timeval tv = { FS_SWEEP_SECONDS, 0 };
	static const int sigs[3] = { SIGTERM, SIGINT, SIGHUP };
	struct passwd *pw;
	char *tmpdir;
	sigset_t set;
	int fd, nfd, i;

	if (store_open(cfg->data_dir, 0, &fs.store) == -1)
		fatalx("store %s: %s", cfg->data_dir, err_msg());
	store_user_set_full_mark(cfg->quota_full_mark);
	/* moves into and out of Spam feed the training queue */
	store_learn_enable(fs.store, cfg->filter_learn);
	fs.uid = getuid();
	fs.gid = getgid();
	if (cfg->user[0] != '\0' && geteuid() == 0) {
		if ((pw = getpwnam(cfg->user)) == NULL)
			fatalx("user = %s: no such user", cfg->user);
		fs.uid = pw->pw_uid;
		fs.gid = pw->pw_gid;
	}
	tmpdir = xasprintf("%s/fstmp", cfg->data_dir);
	if (mkdir(tmpdir, 0700) < 0 && errno != EEXIST)
		fatal("cannot create %s", tmpdir);
	if ((fs.tmpdirfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) < 0)
		fatal("cannot open %s", tmpdir);
	if (geteuid() == 0 && fchown(fs.tmpdirfd, fs.uid, fs.gid) < 0)
		fatal("cannot give %s to the daemon's user", tmpdir);
	if (geteuid() == 0)
		fs_tmp_chown(fs.tmpdirfd, tmpdir);
	fs.tmpdir = tmpdir;
	if (store_notify_listen(fs.store, &fs_notify, &nfd) == -1)
		fatalx("store notifications: %s", err_msg());
	if (daemon_drop_privileges(cfg) == -1)
		fatalx("dropping privileges: %s", err_msg());
	fs.hostname = cfg->hostname;
	fs.max_size = cfg->smtpd_max_message_size;
	fs.started = time(NULL);
	/* Folders deleted while we were not running leave no files. */
	fs_tmp_sweep(0);

	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	if ((fs_base = event_base_new()) == NULL)
		fatalx("event loop: cannot create it");
	fs.base = fs_base;
	fd = fuse_session_fd(fs.se);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		fatal("/dev/fuse: nonblocking");
	ev_fuse = event_new(fs_base, fd, EV_READ | EV_PERSIST, fs_on_fuse,
	    NULL);
	ev_notify = event_new(fs_base, nfd, EV_READ | EV_PERSIST,
	    fs_on_notify, NULL);
	if (ev_fuse == NULL || ev_notify == NULL ||
	    event_add(ev_fuse, NULL) < 0 || event_add(ev_notify, NULL) < 0)
		fatalx("event loop: cannot watch /dev/fuse");
	for (i = 0; i < 3; i++) {
		ev_sig[i] = evsignal_new(fs_base, sigs[i], fs_on_signal, NULL);
		if (ev_sig[i] == NULL || event_add(ev_sig[i], NULL) < 0)
			fatalx("event loop: cannot watch signals");
	}
	ev_timer = event_new(fs_base, -1, EV_PERSIST, fs_on_timer, NULL);
	if (ev_timer == NULL || event_add(ev_timer, &tv) < 0)
		fatalx("event loop: cannot add a timer");
	if (fs_inval_start() < 0)
		fatalx("cannot start the invalidation thread");
	log_info("mounted at %s", mnt);
	event_base_dispatch(fs_base);

	fs_inval_stop();
	for (i = 0; i < 3; i++)
		event_free(ev_sig[i]);
	event_free(ev_timer);
	event_free(ev_fuse);
	event_free(ev_notify);
	event_base_free(fs_base);
	free(fs_buf.mem);
	store_notify_close(&fs_notify);
	store_close(&fs.store);
	close(fs.tmpdirfd);
	free(tmpdir);
	log_info("stopped");
}

int
main(int argc, char **argv)
{
	static struct config cfg;
	char mnt[PATH_MAX], why[256], *opts;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	sigset_t set;
	pid_t child, parent;
	int rc;

	daemon_setup("vellum-fs", argc, argv, &cfg);
	if (!cfg.fs_enabled)
		fatalx("no [fs] section in %s: nothing to mount",
		    cfg.path[0] != '\0' ? cfg.path : "the default config");
	if (!daemon_fuse_available(why, sizeof(why)))
		fatalx("file view off: %s", why);
	if (geteuid() != 0)
		fatalx("vellum-fs must start as root to mount %s (it serves "
		    "as the config's user)", cfg.fs_mountpoint);
	fs_mkdirs(cfg.fs_mountpoint);
	if (realpath(cfg.fs_mountpoint, mnt) == NULL) {
		/* A dead mount cannot be resolved: unmount it by its name. */
		if (errno != ENOTCONN)
			fatal("[fs] mountpoint %s", cfg.fs_mountpoint);
		snprintf(mnt, sizeof(mnt), "%s", cfg.fs_mountpoint);
	}
	fs_unmount_stale(mnt);
	if (realpath(cfg.fs_mountpoint, mnt) == NULL)
		fatal("[fs] mountpoint %s", cfg.fs_mountpoint);

	opts = xstrdup("allow_other,default_permissions,fsname=vellum,"
	    "subtype=vellum");
	if (fuse_opt_add_arg(&args, "vellum-fs") != 0 ||
	    fuse_opt_add_arg(&args, "-o") != 0 ||
	    fuse_opt_add_arg(&args, opts) != 0)
		fatalx("out of memory");
	free(opts);
	if ((fs.se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops),
	    NULL)) == NULL)
		fatalx("cannot start a FUSE session");
	fuse_opt_free_args(&args);

	/* Signals wait for sigwaitinfo() in the parent. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (fuse_session_mount(fs.se, mnt) != 0)
		fatalx("cannot mount %s", mnt);
	parent = getpid();
	if ((child = fork()) < 0) {
		umount2(mnt, MNT_DETACH);
		fatal("fork");
	}
	if (child == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() !=
		    parent)
			_exit(1);
		fs_serve(&cfg, mnt);
		fuse_session_destroy(fs.se);
		return 0;
	}
	close(fuse_session_fd(fs.se));
	rc = fs_parent(child, mnt);
	return rc;
}
