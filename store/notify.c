/*
 * notify.c - change notification between processes (notify.h).
 *
 * Each listening process binds a datagram socket
 * DATA_DIR/notify/<pid>-<n>.sock.  A committer sends every listener one
 * datagram per STORE_NOTIFY_IDS_MAX mailbox ids: big-endian 32-bit ids,
 * nothing else.  Id 0 means "anything may have changed".
 *
 * A committer never blocks.  When a listener's queue is full (EAGAIN) the
 * committer creates the flag file <socket>.lost beside the socket and
 * tries once more to send id 0: if that fails too, the queue is still full,
 * so the listener is readable and will find the flag when it drains (it
 * drains first, then looks at the flag).  A socket nobody is bound to any
 * more (ECONNREFUSED) or that vanished (ENOENT) is unlinked and forgotten.
 *
 * The list of listeners is cached per store and read again when the
 * directory's mtime changes (one stat(2) per commit).
 *
 * Daemons open the store, and so the notify dir, as root and then drop
 * privileges (common/daemon.c); a data dir that root made (0700, root's)
 * cannot be crossed by the dropped user any more.  So the store keeps
 * the dir open (O_PATH) from store_open() on, and everything below goes
 * through that descriptor: listing, flag files and unlinks with the *at
 * calls, socket addresses through /proc/self/fd/ when the path is not
 * reachable.  In such a data dir the notify dir itself is mode 0777: it
 * is unreachable by path to anyone but root, and the dropped daemons
 * must bind, remove and flag sockets in it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "notify.h"
#include "private.h"

/* The receive buffer a listener asks for. */
#define NOTIFY_RCVBUF		(1024 * 1024)
#define NOTIFY_SUFFIX		".sock"
#define NOTIFY_LOST_SUFFIX	".lost"
/* A listener list younger than this is not trusted (notify_scan()). */
#define NOTIFY_SETTLE_SECS	2

struct store_notify {
	int	 fd;
	int	 dirfd;		/* the notify dir (O_PATH) */
	char	*path;		/* the socket, for messages */
	char	*name;		/* its name in the dir */
	char	*lost;		/* its overflow flag file's name */
};

struct notify_peer {
	char	*name;		/* file name in the notify dir */
};

static int	notify_dir(struct store *, int);
static int	notify_addr(struct store *, const char *,
		    struct sockaddr_un *, socklen_t *);
static void	notify_scan(struct store *);
static void	notify_forget(struct store *, size_t);

/* DATA_DIR/notify, from the store path DATA_DIR/store. */
static char *
notify_dir_path(struct store *st)
{
	size_t n = strlen(st->path);

	/* st->path always ends in "/store" (store_open()). */
	return xasprintf("%.*snotify", (int)(n - 5), st->path);
}

/*
 * Root sets the notify dir's owner and mode: the data dir's owner's when
 * that is not root (daemons run as that user); when root owns a data dir
 * that nobody else may enter, 0777 (see the top of the file).
 */
static void
notify_dir_owner(struct store *st)
{
	struct stat data, sb;
	char *path;

	path = xasprintf("%s/..", st->notify_dir);
	if (stat(path, &data) == 0 && fstat(st->notify_dirfd, &sb) == 0) {
		if (data.st_uid != 0 && (sb.st_uid != data.st_uid ||
		    sb.st_gid != data.st_gid) && fchownat(st->notify_dirfd,
		    "", data.st_uid, data.st_gid, AT_EMPTY_PATH) == -1)
			log_warnx("chown %s: %s", st->notify_dir,
			    strerror(errno));
		if (data.st_uid == 0 && sb.st_uid == 0 &&
		    (data.st_mode & 077) == 0 && (sb.st_mode & 0777) != 0777 &&
		    chmod(st->notify_dir, 0777) == -1)
			log_warnx("chmod %s: %s", st->notify_dir,
			    strerror(errno));
	}
	free(path);
}

/*
 * Makes sure the notify dir exists (when create) and is open: st->
 * notify_dir and st->notify_dirfd set.  -1 when it is not there (err
 * set only when create) or cannot be made.
 */
static int
notify_dir(struct store *st, int create)
{
	struct stat sb;

	if (st->notify_dir == NULL)
		st->notify_dir = notify_dir_path(st);
	if (st->notify_dirfd != -1 && !create)
		return 0;
	if (create && mkdir(st->notify_dir, 0700) == -1 && errno != EEXIST)
		return err_set(ERR_TEMP, "cannot create %s: %s",
		    st->notify_dir, strerror(errno));
	if (st->notify_dirfd == -1) {
		/* Quiet for a committer: no listener has made it yet. */
		if ((st->notify_dirfd = open(st->notify_dir, O_PATH |
		    O_DIRECTORY | O_CLOEXEC)) == -1)
			return !create ? -1 : err_set(ERR_TEMP, "cannot open "
			    "%s: %s", st->notify_dir, strerror(errno));
		if (fstat(st->notify_dirfd, &sb) == 0) {
			st->notify_dev = sb.st_dev;
			st->notify_ino = sb.st_ino;
		}
	}
	if (create && geteuid() == 0)
		notify_dir_owner(st);
	return 0;
}

void
notify_store_open(struct store *st)
{
	if (notify_dir(st, 1) == -1)
		log_debug("store notifications: %s", err_msg());
}

/*
 * The address of socket name in the notify dir.  A path too long for
 * sun_path is reached through /proc/self/fd/ of the directory.
 */
static int
notify_addr(struct store *st, const char *name, struct sockaddr_un *sa,
    socklen_t *len_r)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s",
	    st->notify_dir, name);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path) || st->notify_via_fd) {
		if (st->notify_dirfd == -1)
			return err_set(ERR_TEMP, "%s is not open",
			    st->notify_dir);
		n = snprintf(sa->sun_path, sizeof(sa->sun_path),
		    "/proc/self/fd/%d/%s", st->notify_dirfd, name);
		if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
			return err_set(ERR_TEMP, "notify socket name too "
			    "long: %s", name);
	}
	*len_r = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    (size_t)n + 1);
	return 0;
}

int
store_notify_listen(struct store *st, struct store_notify **r, int *fd_r)
{
	static unsigned seq;
	struct store_notify *n;
	struct sockaddr_un sa;
	socklen_t salen;
	struct stat data;
	char name[64], *path;
	int fd, rcvbuf = NOTIFY_RCVBUF;

	*r = NULL;
	*fd_r = -1;
	if (notify_dir(st, 1) == -1)
		return -1;
	snprintf(name, sizeof(name), "%ld-%u" NOTIFY_SUFFIX, (long)getpid(),
	    seq++);
	if (notify_addr(st, name, &sa, &salen) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return err_set(ERR_TEMP, "notify socket: %s", strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	n = xcalloc(1, sizeof(*n));
	n->fd = fd;
	if ((n->dirfd = fcntl(st->notify_dirfd, F_DUPFD_CLOEXEC, 0)) == -1) {
		err_set(ERR_TEMP, "notify dir: %s", strerror(errno));
		free(n);
		close(fd);
		return -1;
	}
	n->path = xasprintf("%s/%s", st->notify_dir, name);
	n->name = xstrdup(name);
	n->lost = xasprintf("%s" NOTIFY_LOST_SUFFIX, name);
	/* A file left by a dead process with our pid is stale. */
	unlinkat(n->dirfd, n->name, 0);
	unlinkat(n->dirfd, n->lost, 0);
	if (bind(fd, (struct sockaddr *)&sa, salen) == -1) {
		err_set(ERR_TEMP, "cannot bind %s: %s", n->path,
		    strerror(errno));
		store_notify_close(&n);
		return -1;
	}
	/*
	 * Anyone who may open the store may notify us: the dir is only
	 * reachable by the data dir's owner (and root) anyway.
	 */
	if (fchmodat(n->dirfd, n->name, 0666, 0) == -1)
		log_warnx("chmod %s: %s", n->path, strerror(errno));
	if (geteuid() == 0) {
		path = xasprintf("%s/..", st->notify_dir);
		if (stat(path, &data) == 0 && data.st_uid != 0 &&
		    fchownat(n->dirfd, n->name, data.st_uid, data.st_gid,
		    0) == -1)
			log_warnx("chown %s: %s", n->path, strerror(errno));
		free(path);
	}
	*r = n;
	*fd_r = fd;
	return 0;
}

int
store_notify_drain(struct store_notify *n, store_notify_fn *fn, void *ctx)
{
	uint8_t buf[STORE_NOTIFY_IDS_MAX * 4];
	ssize_t got;
	size_t i;

	for (;;) {
		got = recv(n->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (got == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return err_set(ERR_TEMP, "notify recv: %s",
			    strerror(errno));
		}
		/* A malformed datagram: treat it as "anything changed". */
		if (got == 0 || got % 4 != 0) {
			fn(0, ctx);
			continue;
		}
		for (i = 0; i + 4 <= (size_t)got; i += 4)
			fn(be32dec(buf + i), ctx);
	}
	/* Only after draining: see the comment at the top. */
	if (unlinkat(n->dirfd, n->lost, 0) == 0)
		fn(0, ctx);
	return 0;
}

void
store_notify_close(struct store_notify **np)
{
	struct store_notify *n = *np;

	if (n == NULL)
		return;
	close(n->fd);
	unlinkat(n->dirfd, n->name, 0);
	unlinkat(n->dirfd, n->lost, 0);
	close(n->dirfd);
	free(n->path);
	free(n->name);
	free(n->lost);
	free(n);
	*np = NULL;
}

/* Drops peer i from the cache. */
static void
notify_forget(struct store *st, size_t i)
{
	free(st->notify_peers[i].name);
	st->notify_peers[i] = st->notify_peers[--st->notify_npeers];
}

static void
notify_peers_free(struct store *st)
{
	while (st->notify_npeers > 0)
		notify_forget(st, st->notify_npeers - 1);
	free(st->notify_peers);
	st->notify_peers = NULL;
}

/* Reads the listener list again when the dir changed. */
static void
notify_scan(struct store *st)
{
	struct timespec now;
	struct stat sb;
	struct dirent *de;
	DIR *d;
	size_t len, sl = strlen(NOTIFY_SUFFIX);
	int fd;

	/*
	 * By path while it can be reached (a dir made anew is then
	 * followed), else through the descriptor (privileges dropped).
	 */
	st->notify_via_fd = 0;
	if (stat(st->notify_dir, &sb) == -1) {
		if (errno != EACCES || fstat(st->notify_dirfd, &sb) == -1) {
			notify_peers_free(st);
			st->notify_mtime.tv_sec = 0;
			st->notify_mtime.tv_nsec = 0;
			return;
		}
		st->notify_via_fd = 1;
	} else if (sb.st_ino != st->notify_ino || sb.st_dev !=
	    st->notify_dev) {
		close(st->notify_dirfd);
		st->notify_dirfd = -1;
		st->notify_scanned = 0;
		if (notify_dir(st, 0) == -1) {
			notify_peers_free(st);
			return;
		}
	}
	if (st->notify_scanned &&
	    sb.st_mtim.tv_sec == st->notify_mtime.tv_sec &&
	    sb.st_mtim.tv_nsec == st->notify_mtime.tv_nsec)
		return;
	if ((fd = openat(st->notify_dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	notify_peers_free(st);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= sl || strcmp(de->d_name + len - sl,
		    NOTIFY_SUFFIX) != 0)
			continue;
		st->notify_peers = xreallocarray(st->notify_peers,
		    st->notify_npeers + 1, sizeof(*st->notify_peers));
		st->notify_peers[st->notify_npeers++].name =
		    xstrdup(de->d_name);
	}
	closedir(d);
	st->notify_mtime = sb.st_mtim;
	/*
	 * Directory times are coarse (a clock tick): a socket bound in the
	 * same tick as our scan leaves the mtime as we saw it.  So a list
	 * read while the dir was that young is read again next time.
	 */
	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	st->notify_scanned = now.tv_sec - sb.st_mtim.tv_sec >=
	    NOTIFY_SETTLE_SECS;
}

/* Sends one datagram to peer i: 0 sent, -1 EAGAIN, -2 peer gone. */
static int
notify_send_one(struct store *st, size_t i, const void *buf, size_t len)
{
	struct sockaddr_un sa;
	socklen_t salen;
	ssize_t rc;

	if (notify_addr(st, st->notify_peers[i].name, &sa, &salen) == -1)
		return 0;
	do
		rc = sendto(st->notify_fd, buf, len, MSG_DONTWAIT |
		    MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	while (rc == -1 && errno == EINTR);
	if (rc >= 0)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return -1;
	if (errno == ECONNREFUSED || errno == ENOENT || errno == ENOTSOCK) {
		if (errno != ENOENT)
			unlinkat(st->notify_dirfd, st->notify_peers[i].name, 0);
		return -2;
	}
	log_debug("notify %s: %s", st->notify_peers[i].name,
	    strerror(errno));
	return 0;
}

/* The listener's queue is full: leave the flag, then try id 0 once. */
static void
notify_lost(struct store *st, size_t i)
{
	static const uint8_t zero[4];
	char *flag;
	int fd;

	flag = xasprintf("%s" NOTIFY_LOST_SUFFIX, st->notify_peers[i].name);
	if ((fd = openat(st->notify_dirfd, flag, O_WRONLY | O_CREAT |
	    O_CLOEXEC, 0666)) == -1)
		log_warnx("notify: cannot create %s: %s", flag,
		    strerror(errno));
	else {
		(void)fchmod(fd, 0666);
		close(fd);
	}
	free(flag);
	(void)notify_send_one(st, i, zero, sizeof(zero));
}

void
store_notify_send(struct store *st, const uint32_t *ids, size_t n)
{
	uint8_t buf[STORE_NOTIFY_IDS_MAX * 4];
	size_t i, off, k, chunk;
	int rc;

	if (n == 0 || notify_dir(st, 0) == -1)
		return;
	notify_scan(st);
	if (st->notify_npeers == 0)
		return;
	if (st->notify_fd == -1 && (st->notify_fd = socket(AF_UNIX,
	    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		log_warnx("notify socket: %s", strerror(errno));
		return;
	}
	for (off = 0; off < n; off += chunk) {
		chunk = n - off > STORE_NOTIFY_IDS_MAX ? STORE_NOTIFY_IDS_MAX :
		    n - off;
		for (k = 0; k < chunk; k++)
			be32enc(buf + 4 * k, ids[off + k]);
		for (i = 0; i < st->notify_npeers;) {
			rc = notify_send_one(st, i, buf, 4 * chunk);
			if (rc == -2) {
				notify_forget(st, i);
				continue;
			}
			if (rc == -1)
				notify_lost(st, i);
			i++;
		}
	}
}

void
notify_txn_add(struct store_txn *t, uint32_t mailbox_id)
{
	/* Runs of the same id are common; the rest is made unique later. */
	if (t->nnotify > 0 && t->notify[t->nnotify - 1] == mailbox_id)
		return;
	if (t->nnotify == t->notify_cap) {
		t->notify_cap = t->notify_cap == 0 ? 8 : t->notify_cap * 2;
		t->notify = xreallocarray(t->notify, t->notify_cap,
		    sizeof(*t->notify));
	}
	t->notify[t->nnotify++] = mailbox_id;
}

static int
id_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void
notify_txn_commit(struct store_txn *t)
{
	size_t i, o = 0;

	if (t->nnotify == 0)
		return;
	qsort(t->notify, t->nnotify, sizeof(*t->notify), id_cmp);
	for (i = 0; i < t->nnotify; i++)
		if (o == 0 || t->notify[o - 1] != t->notify[i])
			t->notify[o++] = t->notify[i];
	store_notify_send(t->st, t->notify, o);
	notify_txn_clear(t);
}

void
notify_txn_clear(struct store_txn *t)
{
	free(t->notify);
	t->notify = NULL;
	t->nnotify = t->notify_cap = 0;
}

void
notify_store_free(struct store *st)
{
	notify_peers_free(st);
	if (st->notify_fd != -1)
		close(st->notify_fd);
	if (st->notify_dirfd != -1)
		close(st->notify_dirfd);
	st->notify_fd = st->notify_dirfd = -1;
	free(st->notify_dir);
	st->notify_dir = NULL;
}
