/*
 * check_store_mapfull.c - MDB_MAP_FULL grows the map, never loses mail.
 *
 * The store starts with a 1 MiB map and takes ~30 MB of incompressible
 * messages; then two processes share a store while each in turn grows
 * the map under the other; then two threads share one store handle (as
 * smtpd's loop and its writer thread do) while one grows the map.  And
 * the map is read without read-ahead but for whole-store scans.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "testutil.h"

static Suite	*mapfull_suite(void);

#define TINY_MAP	(1024 * 1024)

static char		*dir;
static struct store	*st;
static uint32_t		 user, inbox;

static void
setup(void)
{
	dir = tu_tmpdir("mapfull");
	store_set_initial_mapsize(TINY_MAP);
	st = tu_open(dir);
	user = tu_make_user(st, "full@example.test");
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

/* Message i of writer w: a header and size bytes of random data. */
static uint8_t *
gen(uint32_t w, uint32_t i, size_t size, size_t *len_r)
{
	struct tu_rng rng;
	uint8_t *m;
	int h;

	m = xmalloc(size + 128);
	h = snprintf((char *)m, 128, "X-Writer: %u\r\nX-Index: %u\r\n\r\n", w,
	    i);
	tu_rng_seed(&rng, (uint64_t)w << 32 | i);
	tu_rng_fill(&rng, m + h, size);
	*len_r = (size_t)h + size;
	return m;
}

/* 0 when uid reads back as gen(w, i, size); else a reason code. */
static int
same(struct store *s, uint32_t mbox, uint32_t uid, uint32_t w, uint32_t i,
    size_t size)
{
	uint8_t *want;
	void *got = NULL;
	size_t len, got_len = 0;
	int rc, bad;

	want = gen(w, i, size, &len);
	rc = tu_read(s, mbox, uid, &got, &got_len);
	bad = rc != 1 ? 1 : got_len != len ? 2 : memcmp(got, want, len) ? 3 :
	    0;
	free(want);
	free(got);
	return bad;
}

START_TEST(test_grow_from_tiny_map)
{
	struct store_stats s;
	uint64_t map0, map1;
	uint32_t uids[300], i;
	uint8_t *m;
	size_t len;
	int rc;

	map0 = store_mapsize(st);
	ck_assert_msg(map0 <= 2 * TINY_MAP, "initial map %" PRIu64 " bytes, "
	    "asked for %d", map0, TINY_MAP);
	for (i = 0; i < 300; i++) {
		m = gen(0, i, 100 * 1024, &len);
		rc = tu_append(st, inbox, m, len, 0, NULL, &uids[i]);
		free(m);
		ck_assert_msg(rc == 1, "append %u (%zu bytes, map %" PRIu64
		    ") returned %d: %s", i, len, store_mapsize(st), rc,
		    tu_err());
	}
	map1 = store_mapsize(st);
	ck_assert_msg(map1 >= 30ULL * 1024 * 1024 && map1 > map0, "map grew "
	    "from %" PRIu64 " to %" PRIu64 " bytes for 30 MB of random data",
	    map0, map1);
	for (i = 0; i < 300; i++) {
		rc = same(st, inbox, uids[i], 0, i, 100 * 1024);
		ck_assert_msg(rc == 0, "message %u (uid %u) after growth: %s",
		    i, uids[i], rc == 1 ? "unreadable" : rc == 2 ?
		    "wrong length" : "bytes differ");
	}
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "store_check: %d problems: %s", rc,
	    tu_check_problems());
	tu_stats(st, &s);
	ck_assert_msg(s.messages == 300 && s.map_bytes == map1, "stats: %"
	    PRIu64 " messages, map %" PRIu64 " (store_mapsize %" PRIu64 ")",
	    s.messages, s.map_bytes, map1);

	/* Reopened, the grown map is kept and everything is there. */
	store_close(&st);
	st = tu_open(dir);
	ck_assert_msg(store_mapsize(st) >= 30ULL * 1024 * 1024, "reopened map "
	    "is %" PRIu64 " bytes", store_mapsize(st));
	rc = same(st, inbox, uids[299], 0, 299, 100 * 1024);
	ck_assert_msg(rc == 0, "last message after reopening: code %d", rc);
}
END_TEST

/*
 * The child.  Exit codes: 0 good; 20+ open/lookup; 30+ its reads of the
 * parent's messages; 40+ its appends; 50 pipe.
 */
static void
child(int from_parent, int to_parent, uint32_t parent_count)
{
	struct store *cst = NULL;
	struct store_mailbox mb;
	struct store_msg *msgs;
	uint32_t uid, i;
	uint8_t *m;
	size_t len, n;
	char c;

	if (store_open(dir, 0, &cst) < 0)
		_exit(20);
	if (tu_mailbox_get(cst, user, "Child", &mb) != 1)
		_exit(21);
	m = gen(2, 0, 1000, &len);
	if (tu_append(cst, mb.id, m, len, 0, NULL, &uid) != 1)
		_exit(40);
	free(m);
	c = 'R';
	if (write(to_parent, &c, 1) != 1 || read(from_parent, &c, 1) != 1)
		_exit(50);

	/* The parent grew the map meanwhile: read all it wrote. */
	if (tu_msg_list(cst, inbox, &msgs, &n) < 0) {
		fprintf(stderr, "child: list after parent's growth: %s\n",
		    tu_err());
		_exit(30);
	}
	if (n != parent_count + 1)
		_exit(31);
	for (i = 1; i < n; i++)
		if (same(cst, inbox, msgs[i].uid, 1, i - 1, 400 * 1024) != 0) {
			fprintf(stderr, "child: parent's message %u: %s\n",
			    i, tu_err());
			_exit(32);
		}
	free(msgs);

	/* Now grow it under the parent. */
	for (i = 1; i <= 40; i++) {
		m = gen(2, i, 400 * 1024, &len);
		if (tu_append(cst, mb.id, m, len, 0, NULL, &uid) != 1) {
			fprintf(stderr, "child: append %u: %s\n", i, tu_err());
			_exit(41);
		}
		free(m);
	}
	store_close(&cst);
	_exit(0);
}

START_TEST(test_two_processes)
{
	struct store_msg *msgs;
	uint32_t childbox, uid, i;
	uint64_t map0, map1, map2;
	int p2c[2], c2p[2], status, rc;
	uint8_t *m;
	size_t len, n;
	pid_t pid;
	char c;

	ck_assert_int_eq(tu_mailbox_create(st, user, "Child", 0, &childbox), 1);
	m = gen(1, 999, 1000, &len);
	ck_assert_int_eq(tu_append(st, inbox, m, len, 0, NULL, &uid), 1);
	free(m);
	map0 = store_mapsize(st);

	ck_assert(pipe(p2c) == 0 && pipe(c2p) == 0);
	pid = fork();
	ck_assert_msg(pid >= 0, "fork failed");
	if (pid == 0) {
		close(p2c[1]);
		close(c2p[0]);
		child(p2c[0], c2p[1], 30);
	}
	close(p2c[0]);
	close(c2p[1]);
	ck_assert_msg(read(c2p[0], &c, 1) == 1 && c == 'R', "child did not "
	    "get ready");

	/* Grow the map while the child has the store open. */
	for (i = 0; i < 30; i++) {
		m = gen(1, i, 400 * 1024, &len);
		rc = tu_append(st, inbox, m, len, 0, NULL, &uid);
		free(m);
		ck_assert_msg(rc == 1, "parent append %u returned %d: %s", i,
		    rc, tu_err());
	}
	map1 = store_mapsize(st);
	ck_assert_msg(map1 > map0, "parent's map did not grow: %" PRIu64,
	    map1);
	c = 'G';
	ck_assert(write(p2c[1], &c, 1) == 1);
	ck_assert(waitpid(pid, &status, 0) == pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child "
	    "status %#x (exit %d: 30-32 reading the parent's messages after "
	    "the map grew, 40-41 appending, 20-21 opening)", status,
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	close(p2c[1]);
	close(c2p[0]);

	/* The child grew the map under us: adopt it and keep working. */
	rc = tu_msg_list(st, childbox, &msgs, &n);
	ck_assert_msg(rc >= 0 && n == 41, "parent listing the child's mailbox"
	    " after the child grew the map: rc %d, %zu messages (wanted 41): "
	    "%s", rc, n, tu_err());
	for (i = 1; i < n; i++) {
		rc = same(st, childbox, msgs[i].uid, 2, i, 400 * 1024);
		ck_assert_msg(rc == 0, "child's message %u read by the parent:"
		    " code %d: %s", i, rc, tu_err());
	}
	free(msgs);
	m = gen(1, 1000, 400 * 1024, &len);
	rc = tu_append(st, inbox, m, len, 0, NULL, &uid);
	free(m);
	ck_assert_msg(rc == 1, "parent append after the child grew the map "
	    "returned %d: %s", rc, tu_err());
	map2 = store_mapsize(st);
	ck_assert_msg(map2 >= map1 && map2 >= 28ULL * 1024 * 1024, "parent's "
	    "map %" PRIu64 " after the child wrote 16 MB (was %" PRIu64 ")",
	    map2, map1);
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "store_check: %d problems: %s", rc,
	    tu_check_problems());
}
END_TEST

/* The writer thread: appends incompressible messages, growing the map. */
struct thr {
	int		 done;		/* atomic: the reader stops */
	uint32_t	 uids[120];
	uint32_t	 n;		/* appended (atomic) */
	char		 err[256];
};

static void *
writer_main(void *arg)
{
	struct thr *w = arg;
	uint32_t i, uid;
	uint8_t *m;
	size_t len;

	for (i = 0; i < 120; i++) {
		m = gen(3, i, 200 * 1024, &len);
		if (tu_append(st, inbox, m, len, 0, NULL, &uid) != 1) {
			snprintf(w->err, sizeof(w->err), "append %u: %s", i,
			    tu_err());
			free(m);
			break;
		}
		free(m);
		w->uids[i] = uid;
		__atomic_store_n(&w->n, i + 1, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * One store handle, two threads: the map grows (~24 MB from 1 MiB) on
 * the writer thread while the main thread reads what it wrote so far,
 * over and over.  A resize must wait for the reader's snapshot to end
 * (LMDB: no transaction open in the process), not pull the map from
 * under it, and the reader must see every committed message whole.
 */
START_TEST(test_threads_share_handle)
{
	struct thr w;
	pthread_t tid;
	uint64_t map0 = store_mapsize(st);
	uint32_t n, i, reads = 0;
	int rc;

	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(pthread_create(&tid, NULL, writer_main, &w), 0);
	while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE)) {
		n = __atomic_load_n(&w.n, __ATOMIC_ACQUIRE);
		if (n == 0)
			continue;
		i = n - 1 - (reads % n);
		rc = same(st, inbox, w.uids[i], 3, i, 200 * 1024);
		ck_assert_msg(rc == 0, "read of message %u (uid %u) while the "
		    "other thread writes (map %" PRIu64 "): %s", i, w.uids[i],
		    store_mapsize(st), rc == 1 ? tu_err() : rc == 2 ?
		    "wrong length" : "bytes differ");
		reads++;
	}
	pthread_join(tid, NULL);
	ck_assert_msg(w.err[0] == '\0' && w.n == 120, "writer thread: %u "
	    "appended: %s", w.n, w.err);
	ck_assert_msg(store_mapsize(st) > map0, "the map did not grow (%"
	    PRIu64 " bytes)", map0);
	ck_assert_msg(reads > 0, "the reader never read");
	for (i = 0; i < 120; i++)
		ck_assert_msg(same(st, inbox, w.uids[i], 3, i, 200 * 1024) ==
		    0, "message %u after the threads", i);
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "store_check: %d problems: %s", rc,
	    tu_check_problems());
}
END_TEST

/*
 * 1 when this process's map of the store's data file has the random-read
 * hint (VmFlags "rr" in /proc/self/smaps: no read-ahead), 0 when not, -1
 * when the map is not found.
 */
static int
map_random(void)
{
	char line[4096], *path;
	FILE *fp;
	int in = 0, rc = -1;

	path = xasprintf("%s/store/data.mdb", dir);
	fp = fopen("/proc/self/smaps", "r");
	ck_assert_msg(fp != NULL, "cannot read /proc/self/smaps");
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strchr(line, '-') != NULL && strstr(line, " /") != NULL &&
		    strncmp(line, "VmFlags", 7) != 0)
			in = strcmp(strchr(line, '/'), path) == 0;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			rc = strstr(line, " rr") != NULL;
			break;
		}
	}
	fclose(fp);
	free(path);
	return rc;
}

START_TEST(test_read_ahead)
{
	uint32_t uid, i;
	uint8_t *m;
	size_t len;

	ck_assert_msg(map_random() == 1, "the store's map is read with "
	    "read-ahead after store_open() (smaps: %d)", map_random());
	store_read_ahead(st, 1);
	ck_assert_msg(map_random() == 0, "store_read_ahead(1) left the "
	    "random-read hint (smaps: %d)", map_random());
	store_read_ahead(st, 0);
	ck_assert_int_eq(map_random(), 1);
	/* store_check() scans with read-ahead and puts the hint back. */
	ck_assert_int_eq(tu_check(st), 0);
	ck_assert_int_eq(map_random(), 1);
	/* A map grown and mapped again keeps the hint (LMDB sets it). */
	for (i = 0; i < 40; i++) {
		m = gen(4, i, 100 * 1024, &len);
		ck_assert_int_eq(tu_append(st, inbox, m, len, 0, NULL, &uid),
		    1);
		free(m);
	}
	ck_assert_msg(store_mapsize(st) > 2 * TINY_MAP, "the map did not "
	    "grow");
	ck_assert_msg(map_random() == 1, "the grown map is read with "
	    "read-ahead (smaps: %d)", map_random());
}
END_TEST

static Suite *
mapfull_suite(void)
{
	Suite *s = suite_create("store_mapfull");
	TCase *tc;

	tc = tcase_create("mapfull");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_grow_from_tiny_map);
	tcase_add_test(tc, test_two_processes);
	tcase_add_test(tc, test_threads_share_handle);
	tcase_add_test(tc, test_read_ahead);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(mapfull_suite());
}
