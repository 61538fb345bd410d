/*
 * check_store_notify.c - change notification between processes.
 *
 * A commit in one process reaches a listener in another (each opens the
 * store itself), an aborted transaction sends nothing, a listener whose
 * process died is removed by the next committer, and a listener whose
 * queue overflowed learns "anything may have changed" (id 0).  recent_uid
 * moving (take_recent, unrecent) is heard too; not moving is not.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "store/notify.h"
#include "testutil.h"

static Suite	*notify_suite(void);

static char		*dir;
static struct store	*st;
static uint32_t		 user, inbox;

static const char msg[] = "From: a@example.test\r\nSubject: n\r\n\r\nhi\r\n";

static void
setup(void)
{
	dir = tu_tmpdir("notify");
	st = tu_open(dir);
	user = tu_make_user(st, "alice@example.test");
	inbox = tu_inbox(st, user);
}

static void
teardown(void)
{
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

/* What a drain saw. */
struct seen {
	uint32_t	ids[4096];
	size_t		n;
	int		everything;	/* id 0 came */
};

static void
seen_one(uint32_t id, void *ctx)
{
	struct seen *s = ctx;

	if (id == 0)
		s->everything = 1;
	if (s->n < sizeof(s->ids) / sizeof(s->ids[0]))
		s->ids[s->n++] = id;
}

static int
seen_has(const struct seen *s, uint32_t id)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->ids[i] == id)
			return 1;
	return 0;
}

/* Waits (bounded, not timed) until fd is readable, then drains it. */
static void
wait_drain(struct store_notify *n, int fd, struct seen *s)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	ck_assert_msg(poll(&p, 1, 30000) == 1, "no notification arrived");
	ck_assert_int_eq(store_notify_drain(n, seen_one, s), 0);
}

/* Socket files (*.sock) in DATA_DIR/notify. */
static size_t
count_sockets(void)
{
	char *path;
	DIR *d;
	struct dirent *de;
	size_t n = 0, len;

	if (asprintf(&path, "%s/notify", dir) == -1)
		ck_abort_msg("out of memory");
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			len = strlen(de->d_name);
			if (len > 5 && strcmp(de->d_name + len - 5, ".sock") ==
			    0)
				n++;
		}
		closedir(d);
	}
	free(path);
	return n;
}

START_TEST(test_crosses_processes)
{
	struct store_notify *n = NULL;
	struct seen s = { 0 };
	pid_t pid;
	int fd, status;

	ck_assert_msg(store_notify_listen(st, &n, &fd) == 0, "listen: %s",
	    err_msg());
	ck_assert_msg(count_sockets() == 1, "%zu sockets after listen",
	    count_sockets());
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		struct store *cst;
		uint32_t uid;

		/* The child's own handle: never the parent's across fork. */
		if (store_open(dir, 0, &cst) == -1)
			_exit(2);
		if (tu_append(cst, inbox, msg, sizeof(msg) - 1, 0, NULL,
		    &uid) != 1)
			_exit(3);
		store_close(&cst);
		_exit(0);
	}
	ck_assert(waitpid(pid, &status, 0) == pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child failed: status %d", status);
	wait_drain(n, fd, &s);
	ck_assert_msg(seen_has(&s, inbox), "the append in another process "
	    "did not name INBOX (%u); %zu ids came", inbox, s.n);
	ck_assert_msg(!s.everything, "an overflow was reported without one");
	store_notify_close(&n);
	ck_assert_msg(count_sockets() == 0, "close left %zu sockets",
	    count_sockets());
}
END_TEST

static int
fail_fn(struct store_txn *t, void *ctx)
{
	uint32_t *box = ctx;

	/* Writes the mailbox, then aborts: nobody may hear of it. */
	if (store_msg_set_flags(t, *box, 1, STORE_FLAGS_ADD, STORE_F_SEEN,
	    NULL) == -1)
		return -1;
	return err_set(ERR_TEMP, "abort on purpose");
}

START_TEST(test_abort_sends_nothing)
{
	struct store_notify *n = NULL;
	struct seen s = { 0 };
	struct store_mailbox mb;
	uint32_t uid;
	int fd;

	ck_assert_int_eq(tu_append(st, inbox, msg, sizeof(msg) - 1, 0, NULL,
	    &uid), 1);
	ck_assert_int_eq(store_notify_listen(st, &n, &fd), 0);
	ck_assert_int_eq(store_write(st, fail_fn, &inbox), -1);
	ck_assert_int_eq(store_notify_drain(n, seen_one, &s), 0);
	ck_assert_msg(s.n == 0, "an aborted transaction sent %zu ids", s.n);
	ck_assert_int_eq(tu_mailbox_get_by_id(st, inbox, &mb), 1);
	ck_assert_msg(mb.unseen == 1, "the abort kept its change");
	/* The same change committed is heard. */
	ck_assert_int_eq(tu_set_flags(st, inbox, uid, STORE_FLAGS_ADD,
	    STORE_F_SEEN, NULL), 1);
	wait_drain(n, fd, &s);
	ck_assert_msg(seen_has(&s, inbox), "a flag change was not notified");
	store_notify_close(&n);
}
END_TEST

START_TEST(test_dead_listener_removed)
{
	struct store_notify *n = NULL;
	struct seen s = { 0 };
	pid_t pid;
	uint32_t uid;
	int fd, status;

	/* A child listens and dies without closing: its socket stays. */
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		struct store *cst;
		struct store_notify *cn;
		int cfd;

		if (store_open(dir, 0, &cst) == -1 ||
		    store_notify_listen(cst, &cn, &cfd) == -1)
			_exit(2);
		_exit(0);
	}
	ck_assert(waitpid(pid, &status, 0) == pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_msg(count_sockets() == 1, "the dead child left %zu sockets",
	    count_sockets());
	ck_assert_int_eq(store_notify_listen(st, &n, &fd), 0);
	ck_assert_int_eq(count_sockets(), 2);
	ck_assert_int_eq(tu_append(st, inbox, msg, sizeof(msg) - 1, 0, NULL,
	    &uid), 1);
	ck_assert_msg(count_sockets() == 1, "after a commit %zu sockets are "
	    "left: the dead listener was not removed", count_sockets());
	/* The live listener still got its notification. */
	wait_drain(n, fd, &s);
	ck_assert(seen_has(&s, inbox));
	store_notify_close(&n);
}
END_TEST

START_TEST(test_overflow_says_everything)
{
	struct store_notify *n = NULL;
	struct seen s = { 0 };
	uint32_t id;
	int fd, i;

	ck_assert_int_eq(store_notify_listen(st, &n, &fd), 0);
	/*
	 * Far more datagrams than any queue holds (net.unix.max_dgram_qlen
	 * is 10 by default; 512 on some systems), none read meanwhile.
	 */
	for (i = 1; i <= 3000; i++) {
		id = (uint32_t)i;
		store_notify_send(st, &id, 1);
	}
	wait_drain(n, fd, &s);
	ck_assert_msg(s.everything, "%zu ids came, no \"everything\" marker "
	    "after the queue overflowed", s.n);
	ck_assert_msg(seen_has(&s, 1), "the first ids did not come either");
	/* Once reported, the overflow is over: the next drain is quiet. */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(store_notify_drain(n, seen_one, &s), 0);
	ck_assert_msg(!s.everything && s.n == 0, "a second drain saw %zu ids "
	    "(everything %d)", s.n, s.everything);
	store_notify_close(&n);
}
END_TEST

static int
batch_fn(struct store_txn *t, void *ctx)
{
	uint32_t *ids = ctx;

	(void)ids;
	return store_mailbox_create(t, user, "Batch", 0, &ids[0]);
}

START_TEST(test_batch_and_many_ids)
{
	struct store_notify *n = NULL;
	struct seen s = { 0 };
	uint32_t ids[300], box[1];
	size_t i;
	int fd;

	ck_assert_int_eq(store_notify_listen(st, &n, &fd), 0);
	/* A group commit notifies when it commits. */
	ck_assert_int_eq(store_batch_begin(st), 0);
	ck_assert_int_eq(store_write(st, batch_fn, box), 1);
	ck_assert_int_eq(store_notify_drain(n, seen_one, &s), 0);
	ck_assert_msg(s.n == 0, "a batch notified before its commit");
	ck_assert_int_eq(store_batch_commit(st), 0);
	wait_drain(n, fd, &s);
	ck_assert_msg(seen_has(&s, box[0]), "the batch's mailbox %u was not "
	    "notified", box[0]);
	/* More ids than one datagram holds arrive in several. */
	for (i = 0; i < 300; i++)
		ids[i] = (uint32_t)(1000 + i);
	memset(&s, 0, sizeof(s));
	store_notify_send(st, ids, 300);
	wait_drain(n, fd, &s);
	for (i = 0; i < 300; i++)
		ck_assert_msg(seen_has(&s, ids[i]), "id %u of 300 missing",
		    ids[i]);
	store_notify_close(&n);
}
END_TEST

static int
take_recent_fn(struct store_txn *t, void *ctx)
{
	uint32_t *r = ctx;

	return store_mailbox_take_recent(t, inbox, &r[0], &r[1]) == 1 ? 0 : -1;
}

/*
 * The file view shows messages at or above recent_uid in new/: a session
 * that claims them (take_recent) moves them to cur/, and listeners hear
 * of it; a claim that moves nothing says nothing.  (The sends are done
 * when the commit returns, so a drain right after sees all there is.)
 */
START_TEST(test_recent_moves_notify)
{
	struct store_notify *n = NULL;
	struct seen s = { 0 };
	uint32_t uid, r[2];
	int fd, i;

	for (i = 0; i < 3; i++)
		ck_assert_int_eq(tu_append(st, inbox, msg, sizeof(msg) - 1, 0,
		    NULL, &uid), 1);
	ck_assert_int_eq(store_notify_listen(st, &n, &fd), 0);

	ck_assert_msg(store_write(st, take_recent_fn, r) == 0, "take_recent: "
	    "%s", err_msg());
	ck_assert_msg(r[0] == 1 && r[1] == 4, "take_recent gave [%u, %u)",
	    r[0], r[1]);
	wait_drain(n, fd, &s);
	ck_assert_msg(seen_has(&s, inbox), "take_recent moved recent_uid "
	    "and nobody heard of it (%zu ids)", s.n);
	memset(&s, 0, sizeof(s));
	ck_assert_msg(store_write(st, take_recent_fn, r) == 0, "take_recent: "
	    "%s", err_msg());
	ck_assert_int_eq(store_notify_drain(n, seen_one, &s), 0);
	ck_assert_msg(s.n == 0, "a take_recent that moved nothing sent %zu "
	    "ids", s.n);
	store_notify_close(&n);
}
END_TEST

static int
fs_ids_fn(struct store_txn *t, void *ctx)
{
	struct store_user *u = ctx;

	return store_user_update(t, u);
}

/*
 * The file view owns a user's tree by its fs ids (vellumctl user set
 * ADDR unix-user): changing them is heard on each of the user's
 * mailboxes; changing anything else of the user is not.
 */
START_TEST(test_fs_ids_notify)
{
	struct store_notify *n = NULL;
	struct store_user u;
	struct seen s = { 0 };
	int fd;

	ck_assert_int_eq(tu_user_get(st, user, &u), 1);
	ck_assert_int_eq(store_notify_listen(st, &n, &fd), 0);
	u.quota_bytes = 12345;
	ck_assert_int_eq(store_write(st, fs_ids_fn, &u), 1);
	ck_assert_int_eq(store_notify_drain(n, seen_one, &s), 0);
	ck_assert_msg(s.n == 0, "a quota change sent %zu ids", s.n);
	u.fs_uid = 5001;
	u.fs_gid = 5002;
	ck_assert_int_eq(store_write(st, fs_ids_fn, &u), 1);
	wait_drain(n, fd, &s);
	ck_assert_msg(seen_has(&s, inbox), "mapping the user was not heard "
	    "on its INBOX (%zu ids)", s.n);
	ck_assert_msg(s.n >= 6, "only %zu of the user's 6 mailboxes were "
	    "notified", s.n);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(store_write(st, fs_ids_fn, &u), 1);
	ck_assert_int_eq(store_notify_drain(n, seen_one, &s), 0);
	ck_assert_msg(s.n == 0, "the same ids again sent %zu ids", s.n);
	u.fs_uid = u.fs_gid = 0;
	ck_assert_int_eq(store_write(st, fs_ids_fn, &u), 1);
	wait_drain(n, fd, &s);
	ck_assert_msg(seen_has(&s, inbox), "unmapping was not heard");
	store_notify_close(&n);
}
END_TEST

/*
 * Daemons open the store as root and then drop privileges; a data dir
 * that root made (0700) cannot be crossed by the dropped user.  A
 * listener and a committer that both dropped to "nobody" after opening
 * the store still reach each other, and the listener removes its socket.
 */
static void
drop_to(const struct passwd *pw)
{
	if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
		_exit(9);
}

START_TEST(test_after_privilege_drop)
{
	struct passwd *pw;
	int ready[2], status, i;
	pid_t pids[2];
	char c = 'x';

	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL ||
	    pw->pw_uid == 0) {
		fprintf(stderr, "test_after_privilege_drop: needs root and "
		    "user nobody; skipped\n");
		return;
	}
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_int_eq(pipe(ready), 0);
	/* The listener (imapd): store and socket as root, then dropped. */
	pids[0] = fork();
	ck_assert(pids[0] >= 0);
	if (pids[0] == 0) {
		struct store *lst;
		struct store_notify *n = NULL;
		struct seen s = { 0 };
		struct pollfd p;
		int fd;

		close(ready[0]);
		if (store_open(dir, 0, &lst) == -1 ||
		    store_notify_listen(lst, &n, &fd) == -1)
			_exit(2);
		drop_to(pw);
		if (write(ready[1], &c, 1) != 1)
			_exit(3);
		p.fd = fd;
		p.events = POLLIN;
		if (poll(&p, 1, 20000) != 1)
			_exit(4);	/* nothing came */
		if (store_notify_drain(n, seen_one, &s) == -1 ||
		    !seen_has(&s, inbox))
			_exit(5);
		store_notify_close(&n);
		store_close(&lst);
		_exit(0);
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	/* The committer (smtpd): store opened as root, then dropped. */
	pids[1] = fork();
	ck_assert(pids[1] >= 0);
	if (pids[1] == 0) {
		struct store *cst;
		uint32_t uid;

		if (store_open(dir, 0, &cst) == -1)
			_exit(2);
		drop_to(pw);
		if (tu_append(cst, inbox, msg, sizeof(msg) - 1, 0, NULL,
		    &uid) != 1)
			_exit(3);
		store_close(&cst);
		_exit(0);
	}
	for (i = 1; i >= 0; i--) {
		ck_assert(waitpid(pids[i], &status, 0) == pids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "%s failed: status %#x (4: no notification came)",
		    i == 0 ? "listener" : "committer", status);
	}
	ck_assert_msg(count_sockets() == 0, "the dropped listener left %zu "
	    "sockets", count_sockets());
}
END_TEST

static Suite *
notify_suite(void)
{
	Suite *s = suite_create("store_notify");
	TCase *tc = tcase_create("notify");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_crosses_processes);
	tcase_add_test(tc, test_abort_sends_nothing);
	tcase_add_test(tc, test_dead_listener_removed);
	tcase_add_test(tc, test_overflow_says_everything);
	tcase_add_test(tc, test_batch_and_many_ids);
	tcase_add_test(tc, test_recent_moves_notify);
	tcase_add_test(tc, test_fs_ids_notify);
	tcase_add_test(tc, test_after_privilege_drop);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(notify_suite());
}
