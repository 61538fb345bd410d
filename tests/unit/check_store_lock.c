/*
 * check_store_lock.c - named locks: owners, leases, stale reclaim.
 *
 * Another holder must be another process (a retake by the same pid renews
 * the lock), so the tests fork children that open the store themselves.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "store/lock.h"
#include "store/slot.h"
#include "store/store.h"
#include "testutil.h"

static Suite	*lock_suite(void);

static char		*dir;
static struct store	*st;
static time_t		 clock_offset;

static void
setup(void)
{
	dir = tu_tmpdir("lock");
	st = tu_open(dir);
}

static void
teardown(void)
{
	store_set_clock(NULL);
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

static time_t
shifted_clock(void)
{
	return time(NULL) + clock_offset;
}

struct holder {
	pid_t	pid;
	int	to_child;	/* close to let the child go on */
};

/* The to_child ends open in this process, closed in each new child. */
static int	to_children[16];
static size_t	nto_children;

enum hold_mode {
	HOLD_UNTIL_TOLD, EXIT_WITHOUT_RELEASE,
	HOLD_EXCLUSIVE,		/* a delivery whose filters run */
	HOLD_SHARED,		/* a delivery that runs none */
	SHARED_EXIT		/* the same, and the process dies */
};

/*
 * Forks a child that opens the store, takes name for lease seconds and
 * reports the result.  HOLD_UNTIL_TOLD: it keeps the lock until
 * holder_finish() and then releases it; EXIT_WITHOUT_RELEASE: it _exit()s
 * at once, leaving a lock whose owner is dead.  HOLD_EXCLUSIVE,
 * HOLD_SHARED: as HOLD_UNTIL_TOLD, taken as a delivery does
 * (store_lock_take_queued()), alone or shared; SHARED_EXIT: shared, then
 * it _exit()s.  The child never touches the parent's store handle.
 */
static struct holder
holder_start(const char *name, unsigned lease, enum hold_mode mode)
{
	struct holder h = { -1, -1 };
	struct store *cst = NULL;
	int up[2], down[2];
	char c = 'x';
	ssize_t n;

	ck_assert(pipe(up) == 0 && pipe(down) == 0);
	h.pid = fork();
	ck_assert_msg(h.pid >= 0, "fork failed");
	if (h.pid == 0) {
		uint64_t t = 0;
		size_t i;
		int queued = mode == HOLD_EXCLUSIVE || mode == HOLD_SHARED ||
		    mode == SHARED_EXIT;

		close(up[0]);
		close(down[1]);
		/* Not the others' (their EOF must not wait for us). */
		for (i = 0; i < nto_children; i++)
			close(to_children[i]);

		if (store_open(dir, 0, &cst) < 0)
			c = 'o';
		else if (!queued && store_lock_take(cst, name, lease) != 1)
			c = 'l';
		else if (queued && store_lock_take_queued(cst, &name, 1, NULL,
		    0, lease, mode == HOLD_EXCLUSIVE, &t) != 1)
			c = 'q';
		else
			c = 'y';
		if (write(up[1], &c, 1) != 1)
			_exit(3);
		if (c != 'y' || mode == EXIT_WITHOUT_RELEASE ||
		    mode == SHARED_EXIT)
			_exit(c == 'y' ? 0 : 2);
		n = read(down[0], &c, 1);	/* EOF when told */
		(void)n;
		_exit(store_lock_release(cst, name) == 1 ? 0 : 4);
	}
	close(up[1]);
	close(down[0]);
	n = read(up[0], &c, 1);
	close(up[0]);
	ck_assert_msg(n == 1 && c == 'y', "child %d could not take lock %s "
	    "(reported '%c')", (int)h.pid, name, n == 1 ? c : '?');
	h.to_child = down[1];
	if (nto_children < sizeof(to_children) / sizeof(to_children[0]))
		to_children[nto_children++] = down[1];
	if (mode == EXIT_WITHOUT_RELEASE || mode == SHARED_EXIT) {
		close(down[1]);
		h.to_child = -1;
		ck_assert(waitpid(h.pid, NULL, 0) == h.pid);
	}
	return h;
}

/* Lets a holding child release and exit; returns its exit status. */
static int
holder_finish(struct holder *h)
{
	int status = 0;
	size_t i;

	for (i = 0; i < nto_children; i++)
		if (to_children[i] == h->to_child)
			to_children[i] = to_children[--nto_children];
	if (h->to_child != -1)
		close(h->to_child);
	h->to_child = -1;
	ck_assert(waitpid(h->pid, &status, 0) == h->pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

struct lock_list_ctx {
	struct store_lock	locks[16];
	size_t			n;
};

static int
list_one(const struct store_lock *l, void *ctx)
{
	struct lock_list_ctx *c = ctx;

	if (c->n < 16)
		c->locks[c->n] = *l;
	c->n++;
	return 0;
}

static const struct store_lock *
list_find(struct lock_list_ctx *c, const char *name)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	ck_assert_msg(store_lock_list(st, list_one, c) >= 0, "lock_list failed: %s",
	    tu_err());
	for (i = 0; i < c->n && i < 16; i++)
		if (strcmp(c->locks[i].name, name) == 0)
			return &c->locks[i];
	return NULL;
}

START_TEST(test_take_release)
{
	struct lock_list_ctx c;
	const struct store_lock *l;
	int64_t since;
	int rc;

	rc = store_lock_take(st, "deliver:bob@example.test", 60);
	ck_assert_msg(rc == 1, "take returned %d: %s", rc, tu_err());
	l = list_find(&c, "deliver:bob@example.test");
	ck_assert_msg(l != NULL, "taken lock not listed (%zu locks)", c.n);
	ck_assert_msg(l->pid == getpid() && !l->stale && l->host[0] != '\0',
	    "listed pid %d (mine %d) stale %d host \"%s\"", (int)l->pid,
	    (int)getpid(), l->stale, l->host);
	ck_assert_msg(l->expires >= l->since + 59 && l->expires <= l->since +
	    61 && l->since >= time(NULL) - 5 && l->since <= time(NULL) + 5,
	    "since %" PRId64 " expires %" PRId64 " for a 60 s lease (now %"
	    PRId64 ")", l->since, l->expires, (int64_t)time(NULL));
	since = l->since;

	/* The same process retakes: renewed, not refused. */
	rc = store_lock_take(st, "deliver:bob@example.test", 600);
	ck_assert_msg(rc == 1, "retake by the holder returned %d: %s", rc,
	    tu_err());
	l = list_find(&c, "deliver:bob@example.test");
	ck_assert_msg(l != NULL && l->expires >= since + 599 && c.n == 1,
	    "after renewing for 600 s: expires %" PRId64 ", %zu locks",
	    l ? l->expires : -1, c.n);

	rc = store_lock_release(st, "deliver:bob@example.test");
	ck_assert_msg(rc == 1, "release returned %d: %s", rc, tu_err());
	ck_assert_msg(list_find(&c, "deliver:bob@example.test") == NULL &&
	    c.n == 0, "released lock still listed (%zu locks)", c.n);
	rc = store_lock_release(st, "deliver:bob@example.test");
	ck_assert_msg(rc == 0, "second release returned %d", rc);
	rc = store_lock_release(st, "never-taken");
	ck_assert_msg(rc == 0, "release of a lock never taken returned %d",
	    rc);
}
END_TEST

START_TEST(test_inuse_by_other_process)
{
	struct lock_list_ctx c;
	const struct store_lock *l;
	struct holder h;
	char pidtext[32];
	int rc;

	h = holder_start("pop3:bob@example.test", 60, HOLD_UNTIL_TOLD);
	rc = store_lock_take(st, "pop3:bob@example.test", 60);
	ck_assert_msg(rc == -1 && err_class() == ERR_INUSE, "take of a lock "
	    "held by live child %d returned %d (%s), wanted INUSE",
	    (int)h.pid, rc, tu_err());
	snprintf(pidtext, sizeof(pidtext), "%d", (int)h.pid);
	ck_assert_msg(strstr(err_msg(), pidtext) != NULL, "INUSE message "
	    "\"%s\" does not name the holder pid %s", err_msg(), pidtext);
	l = list_find(&c, "pop3:bob@example.test");
	ck_assert_msg(l != NULL && l->pid == h.pid && !l->stale, "listed: "
	    "%s pid %d stale %d (holder %d)", l ? "yes" : "no",
	    l ? (int)l->pid : -1, l ? l->stale : -1, (int)h.pid);

	/* Not ours: release does nothing. */
	rc = store_lock_release(st, "pop3:bob@example.test");
	ck_assert_msg(rc == 0, "release of another process's lock returned %d",
	    rc);
	ck_assert_msg(list_find(&c, "pop3:bob@example.test") != NULL,
	    "another process's lock vanished on our release");

	/* Once the holder releases, we may take it. */
	rc = holder_finish(&h);
	ck_assert_msg(rc == 0, "holder exited %d (4: its release failed)", rc);
	rc = store_lock_take(st, "pop3:bob@example.test", 60);
	ck_assert_msg(rc == 1, "take after the holder released returned %d: "
	    "%s", rc, tu_err());
	/* A different name was never blocked. */
	rc = store_lock_take(st, "pop3:alice@example.test", 60);
	ck_assert_msg(rc == 1, "take of another name returned %d: %s", rc,
	    tu_err());
}
END_TEST

START_TEST(test_stale_dead_owner)
{
	struct lock_list_ctx c;
	const struct store_lock *l;
	struct holder h;
	int rc;

	h = holder_start("deliver:dead@example.test", 3600,
	    EXIT_WITHOUT_RELEASE);
	l = list_find(&c, "deliver:dead@example.test");
	ck_assert_msg(l != NULL && l->pid == h.pid && l->stale, "lock of dead "
	    "pid %d: listed %s, pid %d, stale %d (wanted stale)", (int)h.pid,
	    l ? "yes" : "no", l ? (int)l->pid : -1, l ? l->stale : -1);
	rc = store_lock_take(st, "deliver:dead@example.test", 60);
	ck_assert_msg(rc == 1, "take of a lock whose owner %d is dead returned"
	    " %d: %s", (int)h.pid, rc, tu_err());
	l = list_find(&c, "deliver:dead@example.test");
	ck_assert_msg(l != NULL && l->pid == getpid() && !l->stale,
	    "reclaimed lock: pid %d (mine %d), stale %d", l ? (int)l->pid : -1,
	    (int)getpid(), l ? l->stale : -1);
}
END_TEST

START_TEST(test_stale_lease_expired)
{
	struct lock_list_ctx c;
	const struct store_lock *l;
	struct holder h;
	int rc;

	h = holder_start("deliver:slow@example.test", 10, HOLD_UNTIL_TOLD);
	rc = store_lock_take(st, "deliver:slow@example.test", 60);
	ck_assert_msg(rc == -1 && err_class() == ERR_INUSE, "take within the "
	    "lease returned %d (%s)", rc, tu_err());

	clock_offset = 100;
	store_set_clock(shifted_clock);
	ck_assert_msg(store_now() >= time(NULL) + 99, "store_now %" PRId64
	    " did not follow the test clock", (int64_t)store_now());
	l = list_find(&c, "deliver:slow@example.test");
	ck_assert_msg(l != NULL && l->stale, "lease ran out 90 s ago but "
	    "lock is listed %s stale %d", l ? "yes" : "no", l ? l->stale : -1);
	rc = store_lock_take(st, "deliver:slow@example.test", 60);
	ck_assert_msg(rc == 1, "take after the lease ran out (holder %d still "
	    "alive) returned %d: %s", (int)h.pid, rc, tu_err());
	l = list_find(&c, "deliver:slow@example.test");
	ck_assert_msg(l != NULL && l->pid == getpid(), "reclaimed lock pid %d",
	    l ? (int)l->pid : -1);
	store_set_clock(NULL);
	clock_offset = 0;

	/* The old holder's release must not drop our lock. */
	rc = holder_finish(&h);
	ck_assert_msg(rc == 4, "old holder's release after losing the lock "
	    "gave exit %d, wanted 4 (release returned 0)", rc);
	l = list_find(&c, "deliver:slow@example.test");
	ck_assert_msg(l != NULL && l->pid == getpid(), "our reclaimed lock "
	    "is gone after the old holder released");
}
END_TEST

START_TEST(test_clear_stale_and_clear)
{
	struct lock_list_ctx c;
	struct holder live;
	unsigned n = 99;
	int rc;

	holder_start("a", 600, EXIT_WITHOUT_RELEASE);
	holder_start("b", 600, EXIT_WITHOUT_RELEASE);
	holder_start("c", 600, EXIT_WITHOUT_RELEASE);
	live = holder_start("d", 600, HOLD_UNTIL_TOLD);
	ck_assert_int_eq(store_lock_take(st, "e", 600), 1);
	list_find(&c, "");
	ck_assert_msg(c.n == 5, "%zu locks listed, wanted 5", c.n);

	rc = store_lock_clear_stale(st, &n);
	ck_assert_msg(rc >= 0 && n == 3, "clear_stale: rc %d, cleared %u, "
	    "wanted 3 (a, b, c)", rc, n);
	ck_assert_msg(list_find(&c, "a") == NULL && list_find(&c, "d") != NULL
	    && list_find(&c, "e") != NULL && c.n == 2, "after clear_stale: "
	    "%zu locks", c.n);
	rc = store_lock_clear_stale(st, &n);
	ck_assert_msg(rc >= 0 && n == 0, "second clear_stale: rc %d, %u", rc,
	    n);

	/* clear removes whoever holds it. */
	rc = store_lock_clear(st, "d");
	ck_assert_msg(rc == 1, "clear of a live child's lock returned %d: %s",
	    rc, tu_err());
	rc = store_lock_clear(st, "d");
	ck_assert_msg(rc == 0, "second clear returned %d", rc);
	rc = store_lock_take(st, "d", 60);
	ck_assert_msg(rc == 1, "take after clear returned %d: %s", rc,
	    tu_err());
	holder_finish(&live);
}
END_TEST

START_TEST(test_invalid_names)
{
	char big[STORE_LOCK_NAME_MAX + 20];
	int rc;

	rc = store_lock_take(st, "", 60);
	ck_assert_msg(rc == -1 && err_class() == ERR_INVALID, "take of \"\" "
	    "returned %d (%s)", rc, tu_err());
	memset(big, 'n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rc = store_lock_take(st, big, 60);
	ck_assert_msg(rc == -1 && err_class() == ERR_INVALID, "take of a "
	    "419-byte name returned %d (%s)", rc, tu_err());
	big[STORE_LOCK_NAME_MAX] = '\0';
	rc = store_lock_take(st, big, 60);
	ck_assert_msg(rc == 1, "take of a %d-byte name returned %d (%s)",
	    STORE_LOCK_NAME_MAX, rc, tu_err());
}
END_TEST

/* Two owners in one process (two POP3 sessions) exclude each other. */
START_TEST(test_owners)
{
	int rc;

	rc = store_lock_take_owner(st, "pop3:bob@example.test", 60, "s1");
	ck_assert_msg(rc == 1, "owner s1 takes: %d %s", rc, err_msg());
	rc = store_lock_take_owner(st, "pop3:bob@example.test", 60, "s2");
	ck_assert_msg(rc == -1 && err_class() == ERR_INUSE &&
	    strstr(err_msg(), "s1") != NULL, "owner s2 of the same process: "
	    "%d %s", rc, err_msg());
	rc = store_lock_take(st, "pop3:bob@example.test", 60);
	ck_assert_msg(rc == -1 && err_class() == ERR_INUSE, "the process "
	    "itself is another owner: %d", rc);
	rc = store_lock_release_owner(st, "pop3:bob@example.test", "s2");
	ck_assert_msg(rc == 0, "s2 cannot release s1's lock: %d", rc);
	rc = store_lock_take_owner(st, "pop3:bob@example.test", 60, "s1");
	ck_assert_msg(rc == 1, "s1 renews: %d", rc);
	rc = store_lock_release_owner(st, "pop3:bob@example.test", "s1");
	ck_assert_msg(rc == 1, "s1 releases: %d", rc);
	rc = store_lock_take_owner(st, "pop3:bob@example.test", 60, "s2");
	ck_assert_msg(rc == 1, "then s2 takes it: %d %s", rc, err_msg());
}
END_TEST

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s", path);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static struct stat
main_store_stat(void)
{
	char path[4096];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/store/data.mdb", dir);
	ck_assert_int_eq(stat(path, &sb), 0);
	return sb;
}

/*
 * Locks live in DATA_DIR/volatile/, not in the store: taking and
 * releasing one leaves the store's file alone, and a store opened in
 * another boot (another boot id) finds none of the locks of the last.
 */
START_TEST(test_volatile_boot)
{
	struct lock_list_ctx c;
	struct stat before, after;
	char boot[4096], vdir[4096];
	int rc;

	before = main_store_stat();
	rc = store_lock_take(st, "pop3:bob@example.test", 600);
	ck_assert_int_eq(rc, 1);
	after = main_store_stat();
	ck_assert_msg(before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
	    before.st_mtim.tv_nsec == after.st_mtim.tv_nsec &&
	    before.st_size == after.st_size, "a lock wrote the store's file");
	snprintf(vdir, sizeof(vdir), "%s/volatile/data.mdb", dir);
	ck_assert_msg(access(vdir, F_OK) == 0, "no %s", vdir);
	store_close(&st);

	/* The same boot: the lock is still there (its owner lives). */
	st = tu_open(dir);
	ck_assert_msg(list_find(&c, "pop3:bob@example.test") != NULL,
	    "lock lost on reopening in the same boot");
	store_close(&st);

	/* A new boot: thrown away, and the table works. */
	snprintf(boot, sizeof(boot), "%s/boot_id", dir);
	write_file(boot, "00000000-1111-2222-3333-444444444444\n");
	store_volatile_set_boot_id_path(boot);
	st = tu_open(dir);
	ck_assert_msg(list_find(&c, "pop3:bob@example.test") == NULL &&
	    c.n == 0, "a lock of the last boot survived (%zu locks)", c.n);
	rc = store_lock_take(st, "pop3:alice@example.test", 60);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(list_find(&c, "pop3:alice@example.test") != NULL,
	    "new lock not listed");
	store_close(&st);

	/* Read-only: this boot's table is read; another boot's is not. */
	ck_assert_int_eq(store_open(dir, STORE_RDONLY, &st), 0);
	ck_assert_msg(list_find(&c, "pop3:alice@example.test") != NULL,
	    "read-only store does not see this boot's lock");
	rc = store_lock_take(st, "pop3:carol@example.test", 60);
	ck_assert_msg(rc == -1 && err_class() == ERR_PERM,
	    "lock taken in a read-only store: %d", rc);
	store_close(&st);
	write_file(boot, "00000000-1111-2222-3333-555555555555\n");
	ck_assert_int_eq(store_open(dir, STORE_RDONLY, &st), 0);
	ck_assert_msg(list_find(&c, "pop3:alice@example.test") == NULL,
	    "read-only store reads another boot's locks");
	store_close(&st);
	store_volatile_set_boot_id_path("/proc/sys/kernel/random/boot_id");
	st = tu_open(dir);
}
END_TEST

/*
 * Jobs get a lock in the order they first found it busy, whatever the
 * process (store_lock_take_queued()): a later ticket, or none, waits
 * behind a live waiter even when the lock is free; a waiter that gave
 * up or whose process ended holds nobody up.
 */
START_TEST(test_queued_order)
{
	const char *x[] = { "deliver:x@example.test" };
	uint64_t a = 0, b = 0, c = 0, d = 0;
	struct holder h;
	pid_t pid;
	int rc, status;

	/*
	 * Held alone, not as a delivery (vellumctl user rename): nobody
	 * joins it; in line.
	 */
	h = holder_start(x[0], 60, HOLD_UNTIL_TOLD);
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 0, &a);
	ck_assert_msg(rc == 0 && a != 0, "held alone: %d ticket %llu",
	    rc, (unsigned long long)a);
	ck_assert_int_eq(holder_finish(&h), 0);
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 0, &a);
	ck_assert_msg(rc == 1 && a == 0, "after its release: %d ticket %llu",
	    rc, (unsigned long long)a);
	ck_assert_int_eq(store_lock_release(st, x[0]), 1);

	/* Held exclusively (a filter runs): in line. */
	h = holder_start(x[0], 60, HOLD_EXCLUSIVE);
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 0, &a);
	ck_assert_msg(rc == 0 && a != 0, "held elsewhere: %d ticket %llu",
	    rc, (unsigned long long)a);
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 0, &b);
	ck_assert_msg(rc == 0 && b > a, "second waiter: %d ticket %llu",
	    rc, (unsigned long long)b);
	ck_assert_int_eq(holder_finish(&h), 0);

	/* Free now, but a is first: b, and a job with no ticket, wait. */
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 0, &b);
	ck_assert_msg(rc == 0, "b went before a: %d", rc);
	rc = store_lock_take_queued(st, NULL, 0, x, 1, 60, 0, &c);
	ck_assert_msg(rc == 0 && c > b, "a newcomer joined before the "
	    "waiters: %d ticket %llu", rc, (unsigned long long)c);
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 0, &a);
	ck_assert_msg(rc == 1 && a == 0, "a, first in line: %d ticket %llu",
	    rc, (unsigned long long)a);
	ck_assert_int_eq(store_lock_release(st, x[0]), 1);

	/* c gives up: b goes. */
	ck_assert_int_eq(store_lock_wait_end(st, x, 1, c), 0);
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 0, &b);
	ck_assert_msg(rc == 1 && b == 0, "b after a: %d", rc);
	ck_assert_int_eq(store_lock_release(st, x[0]), 1);

	/* A waiter whose process ended holds nobody up. */
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		struct store *cst = NULL;
		uint64_t t = 0;

		if (store_open(dir, 0, &cst) < 0 ||
		    store_lock_wait(cst, x, 1, &t) != 0 || t == 0)
			_exit(1);
		_exit(0);
	}
	ck_assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0);
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 0, &d);
	ck_assert_msg(rc == 1 && d == 0, "the waiter of an ended process "
	    "held the lock up: %d", rc);
}
END_TEST

/*
 * Another process tries once to take name as a delivery (shared, or
 * alone if exclusive) and ends: 1 it could, 0 it would wait (it got a
 * ticket), -1 an error.  What it took or waited for ends with it.
 */
static int
try_in_child(const char *name, int exclusive)
{
	struct store *cst = NULL;
	uint64_t t = 0;
	pid_t pid;
	int rc, status;

	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		if (store_open(dir, 0, &cst) < 0)
			_exit(9);
		rc = store_lock_take_queued(cst, &name, 1, NULL, 0, 60,
		    exclusive, &t);
		_exit(rc == 1 ? 1 : rc == 0 && t != 0 ? 0 : 9);
	}
	ck_assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
	return WEXITSTATUS(status) == 9 ? -1 : WEXITSTATUS(status);
}

/* The holders of name listed (one entry each), live or stale. */
static size_t
list_holders(const char *name, size_t *nstale, int *shared, int *excl)
{
	struct lock_list_ctx c;
	size_t i, n = 0;

	memset(&c, 0, sizeof(c));
	ck_assert_msg(store_lock_list(st, list_one, &c) >= 0, "lock_list "
	    "failed: %s", tu_err());
	*nstale = 0;
	*shared = *excl = -1;
	for (i = 0; i < c.n && i < 16; i++) {
		if (strcmp(c.locks[i].name, name) != 0)
			continue;
		ck_assert_msg(c.locks[i].nholders >= 1, "entry of %s says "
		    "%u holders", name, c.locks[i].nholders);
		n++;
		*nstale += c.locks[i].stale != 0;
		*shared = c.locks[i].shared;
		*excl = c.locks[i].exclusive;
	}
	return n;
}

/*
 * Deliveries that run no filter share a recipient's lock across
 * processes: each process holds it with its own lease, and releases
 * only its own hold; nobody may take it alone meanwhile.
 */
START_TEST(test_shared_two_pids)
{
	const char *x[] = { "deliver:s@example.test" };
	struct holder h;
	uint64_t a = 0;
	size_t n, nstale;
	int rc, shared, excl;

	h = holder_start(x[0], 60, HOLD_SHARED);
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 0, &a);
	ck_assert_msg(rc == 1 && a == 0, "held shared by child %d, a shared "
	    "take got %d ticket %llu (%s)", (int)h.pid, rc,
	    (unsigned long long)a, tu_err());
	n = list_holders(x[0], &nstale, &shared, &excl);
	ck_assert_msg(n == 2 && nstale == 0 && shared == 1 && excl == 0,
	    "listed %zu holders (%zu stale), shared %d exclusive %d; wanted 2 "
	    "live, shared", n, nstale, shared, excl);
	/* Renewing keeps one entry for this process. */
	ck_assert_int_eq(store_lock_take_queued(st, x, 1, NULL, 0, 120, 0,
	    &a), 1);
	n = list_holders(x[0], &nstale, &shared, &excl);
	ck_assert_msg(n == 2, "after renewing: %zu holders", n);

	/* Shared is not alone: a plain take, or an exclusive one, waits. */
	rc = store_lock_take(st, "deliver:s@example.test", 60);
	ck_assert_msg(rc == -1 && err_class() == ERR_INUSE, "plain take of a "
	    "lock shared with another process: %d (%s)", rc, tu_err());
	rc = try_in_child(x[0], 1);
	ck_assert_msg(rc == 0, "an exclusive taker got a lock two processes "
	    "share: %d", rc);
	/*
	 * A third process joins, and ends holding it: its hold is listed
	 * stale (a join or a release looks for nobody's process).
	 */
	rc = try_in_child(x[0], 0);
	ck_assert_msg(rc == 1, "a third shared taker: %d", rc);
	n = list_holders(x[0], &nstale, &shared, &excl);
	ck_assert_msg(n == 3 && nstale == 1, "with the ended third: %zu "
	    "holders, %zu stale", n, nstale);

	/* Each releases its own hold. */
	ck_assert_int_eq(store_lock_release(st, x[0]), 1);
	n = list_holders(x[0], &nstale, &shared, &excl);
	ck_assert_msg(n - nstale == 1, "after our release %zu live holders, "
	    "wanted the child's", n - nstale);
	ck_assert_int_eq(store_lock_release(st, x[0]), 0);
	ck_assert_msg(holder_finish(&h) == 0, "the child's release failed");
	n = list_holders(x[0], &nstale, &shared, &excl);
	ck_assert_msg(n == nstale, "released by both: %zu live holders "
	    "listed", n - nstale);
	/* Nobody live: a process that wants it alone gets it. */
	rc = try_in_child(x[0], 1);
	ck_assert_msg(rc == 1, "exclusive with only a dead holder left: %d",
	    rc);
}
END_TEST

/*
 * A job whose filters run waits, with a ticket, until every process
 * that shares the lock has released it; shared takers that come while
 * it waits queue behind it (it is not starved), and take the lock
 * after it.
 */
START_TEST(test_exclusive_waits_for_shared)
{
	const char *x[] = { "deliver:e@example.test" };
	struct holder h1, h2;
	uint64_t e = 0, s = 0;
	size_t n, nstale;
	int rc, shared, excl;

	h1 = holder_start(x[0], 60, HOLD_SHARED);
	h2 = holder_start(x[0], 60, HOLD_SHARED);
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 1, &e);
	ck_assert_msg(rc == 0 && e != 0, "exclusive take of a lock two "
	    "processes share: %d ticket %llu", rc, (unsigned long long)e);

	/* Newcomers, of this process or another, queue behind it. */
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 0, &s);
	ck_assert_msg(rc == 0 && s > e, "a shared taker went before the "
	    "waiting exclusive one: %d ticket %llu (exclusive %llu)", rc,
	    (unsigned long long)s, (unsigned long long)e);
	rc = try_in_child(x[0], 0);
	ck_assert_msg(rc == 0, "another process joined the shared lock "
	    "while an exclusive taker waits: %d", rc);

	/* One holder left: still waiting; none: it has it, alone. */
	ck_assert_int_eq(holder_finish(&h1), 0);
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 1, &e);
	ck_assert_msg(rc == 0 && e != 0, "exclusive with a holder left: %d",
	    rc);
	ck_assert_int_eq(holder_finish(&h2), 0);
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 0, &s);
	ck_assert_msg(rc == 0, "the later shared taker went first: %d", rc);
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 1, &e);
	ck_assert_msg(rc == 1 && e == 0, "exclusive once the shared holders "
	    "released: %d ticket %llu (%s)", rc, (unsigned long long)e,
	    tu_err());
	n = list_holders(x[0], &nstale, &shared, &excl);
	ck_assert_msg(n == 1 && excl == 1 && shared == 0, "listed %zu holders,"
	    " exclusive %d shared %d", n, excl, shared);
	rc = try_in_child(x[0], 0);
	ck_assert_msg(rc == 0, "another process joined an exclusive lock: "
	    "%d", rc);

	/* Released: the shared taker in line gets it, shared again. */
	ck_assert_int_eq(store_lock_release(st, x[0]), 1);
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 0, &s);
	ck_assert_msg(rc == 1 && s == 0, "the shared taker after the "
	    "exclusive one: %d", rc);
	rc = try_in_child(x[0], 0);
	ck_assert_msg(rc == 1, "shared again, another process joins: %d", rc);
}
END_TEST

/*
 * A holder of a shared lock that died is dropped alone: the others
 * keep their holds, an exclusive taker waits only for the live ones,
 * and clear_stale removes that one hold.
 */
START_TEST(test_shared_dead_holder)
{
	const char *x[] = { "deliver:d@example.test" };
	const char *y[] = { "deliver:d2@example.test" };
	struct holder h;
	uint64_t e = 0;
	size_t n, nstale;
	unsigned cleared = 99;
	int rc, shared, excl;

	h = holder_start(x[0], 600, HOLD_SHARED);
	(void)holder_start(x[0], 600, SHARED_EXIT);
	n = list_holders(x[0], &nstale, &shared, &excl);
	ck_assert_msg(n == 2 && nstale == 1, "one live and one dead holder: "
	    "listed %zu, %zu stale", n, nstale);
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 1, &e);
	ck_assert_msg(rc == 0 && e != 0, "exclusive while a live process "
	    "shares it: %d", rc);
	rc = store_lock_clear_stale(st, &cleared);
	ck_assert_msg(rc >= 0 && cleared == 1, "clear_stale: %d, %u cleared,"
	    " wanted the dead holder's", rc, cleared);
	n = list_holders(x[0], &nstale, &shared, &excl);
	ck_assert_msg(n == 1 && nstale == 0 && shared == 1, "after clear_"
	    "stale: %zu holders, %zu stale, shared %d", n, nstale, shared);

	ck_assert_int_eq(holder_finish(&h), 0);
	rc = store_lock_take_queued(st, x, 1, NULL, 0, 60, 1, &e);
	ck_assert_msg(rc == 1 && e == 0, "exclusive once the live holder "
	    "released: %d (%s)", rc, tu_err());
	ck_assert_int_eq(store_lock_release(st, x[0]), 1);

	/* Only a dead holder: in nobody's way, dropped by the next taker. */
	(void)holder_start(y[0], 600, SHARED_EXIT);
	rc = store_lock_take_queued(st, y, 1, NULL, 0, 60, 1, &e);
	ck_assert_msg(rc == 1 && e == 0, "exclusive with only a dead holder: "
	    "%d (%s)", rc, tu_err());
	n = list_holders(y[0], &nstale, &shared, &excl);
	ck_assert_msg(n == 1 && nstale == 0 && excl == 1, "the dead holder "
	    "was not dropped: %zu holders, %zu stale", n, nstale);
	ck_assert_int_eq(store_lock_release(st, y[0]), 1);
	n = list_holders(y[0], &nstale, &shared, &excl);
	ck_assert_msg(n == 0, "released: %zu holders", n);
}
END_TEST

/* Slots count over processes; those of an ended process are free. */
START_TEST(test_slots)
{
	pid_t pid;
	int status;

	ck_assert_int_eq(store_slot_take(st, "f", 2), 1);
	ck_assert_int_eq(store_slot_take(st, "f", 2), 1);
	ck_assert_int_eq(store_slot_take(st, "f", 2), 0);
	ck_assert_int_eq(store_slot_take(st, "g", 1), 1);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		struct store *cst = NULL;

		if (store_open(dir, 0, &cst) < 0 ||
		    store_slot_take(cst, "f", 2) != 0)
			_exit(1);
		_exit(0);
	}
	ck_assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0);
	ck_assert_int_eq(store_slot_release(st, "f"), 0);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		struct store *cst = NULL;

		/* Takes the slot and ends without giving it back. */
		if (store_open(dir, 0, &cst) < 0 ||
		    store_slot_take(cst, "f", 2) != 1)
			_exit(1);
		_exit(0);
	}
	ck_assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0);
	ck_assert_int_eq(store_slot_take(st, "f", 2), 1);
	ck_assert_int_eq(store_slot_take(st, "f", 2), 0);
}
END_TEST

static Suite *
lock_suite(void)
{
	Suite *s = suite_create("store_lock");
	TCase *tc;

	tc = tcase_create("lock");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_take_release);
	tcase_add_test(tc, test_inuse_by_other_process);
	tcase_add_test(tc, test_stale_dead_owner);
	tcase_add_test(tc, test_stale_lease_expired);
	tcase_add_test(tc, test_clear_stale_and_clear);
	tcase_add_test(tc, test_invalid_names);
	tcase_add_test(tc, test_owners);
	tcase_add_test(tc, test_volatile_boot);
	tcase_add_test(tc, test_queued_order);
	tcase_add_test(tc, test_shared_two_pids);
	tcase_add_test(tc, test_exclusive_waits_for_shared);
	tcase_add_test(tc, test_shared_dead_holder);
	tcase_add_test(tc, test_slots);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(lock_suite());
}
