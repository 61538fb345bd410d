/*
 * check_store_crash.c - a killed writer loses nothing it acknowledged.
 *
 * Children open the store themselves and append messages in a loop, each
 * in its own durable store_write(); only after store_write() returns do
 * they report (uid, sequence) on a pipe.  The parent SIGKILLs them at a
 * chosen moment, reopens the store and checks: store_check() is clean,
 * every reported message reads back exactly, and every message present
 * is whole and is one the children meant to write (at most one per child
 * committed but not yet reported).  Children never call Check: they
 * report problems through their exit status.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "testutil.h"

static Suite	*crash_suite(void);

#define MAXCHILD	4
#define MAXREC		20000

static char		*dir;
static uint32_t		 user;

struct rec {
	uint32_t	uid;
	uint32_t	seq;
};

static void
setup(void)
{
	struct store *st;

	dir = tu_tmpdir("crash");
	st = tu_open(dir);
	user = tu_make_user(st, "crash@example.test");
	store_close(&st);
}

static void
teardown(void)
{
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

/*
 * The message child gen writes as number seq: text of varying length, and
 * every seventh one 150 KB of random bytes (several blob fragments).
 */
static uint8_t *
gen_message(uint32_t gen, uint32_t seq, size_t *len_r)
{
	struct tu_rng rng;
	uint8_t *m;
	size_t len, cap, nlines, i;

	nlines = 1 + (gen * 31 + seq * 7) % 60;
	cap = 256 + nlines * 80 + (seq % 7 == 3 ? 150000 : 0);
	m = xmalloc(cap);
	len = (size_t)snprintf((char *)m, cap, "X-Gen: %u %u\r\nFrom: crash@"
	    "example.test\r\nSubject: crash test %u/%u\r\n\r\n", gen, seq, gen,
	    seq);
	for (i = 0; i < nlines; i++)
		len += (size_t)snprintf((char *)m + len, cap - len, "gen %u seq"
		    " %u line %zu: lorem ipsum dolor sit amet\r\n", gen, seq,
		    i);
	if (seq % 7 == 3) {
		tu_rng_seed(&rng, (uint64_t)gen << 32 | seq);
		tu_rng_fill(&rng, m + len, 150000);
		len += 150000;
	}
	*len_r = len;
	return m;
}

/* The child: append forever (or count times), reporting each commit. */
static void
child_main(const char *mailbox, uint32_t gen, uint32_t count, int fd)
{
	struct store *st = NULL;
	struct store_mailbox mb;
	struct rec r;
	uint8_t *m;
	size_t len;
	uint32_t seq, uid;

	if (store_open(dir, 0, &st) < 0)
		_exit(10);
	if (tu_mailbox_get(st, user, mailbox, &mb) != 1)
		_exit(11);
	for (seq = 0; count == 0 || seq < count; seq++) {
		m = gen_message(gen, seq, &len);
		if (tu_append(st, mb.id, m, len, 0, NULL, &uid) != 1) {
			fprintf(stderr, "child %u: append %u: %s\n", gen, seq,
			    tu_err());
			_exit(12);
		}
		free(m);
		r.uid = uid;
		r.seq = seq;
		if (write(fd, &r, sizeof(r)) != sizeof(r))
			_exit(13);
	}
	store_close(&st);
	_exit(0);
}

static size_t
read_recs(int fd, struct rec *recs, size_t have, size_t max)
{
	ssize_t n;

	while (have < max) {
		n = read(fd, &recs[have], sizeof(recs[0]));
		if (n == 0)
			break;
		if (n == -1 && errno == EINTR)
			continue;
		ck_assert_msg(n == sizeof(recs[0]), "short read %zd from a "
		    "child's pipe", n);
		have++;
	}
	return have;
}

/*
 * One round: nchild children append to mailbox "round-R" (created here),
 * generation R * 10 + k for child k.  With kill_ms >= 0 they are killed
 * kill_ms after every child has reported its first commit; otherwise
 * each appends count messages and exits.
 */
static void
crash_round(int round, int nchild, int kill_ms, uint32_t count)
{
	struct store *st;
	struct store_msg *msgs;
	struct rec *recs[MAXCHILD];
	size_t nrec[MAXCHILD], nlisted[MAXCHILD], n, i, j, len, got_len;
	pid_t pids[MAXCHILD];
	int fds[MAXCHILD][2], k, status, rc;
	char name[32], head[64];
	uint32_t mbox, gen, seq;
	uint8_t *want;
	void *got;
	struct timespec ts;

	snprintf(name, sizeof(name), "round-%d", round);
	st = tu_open(dir);
	ck_assert_int_eq(tu_mailbox_create(st, user, name, 0, &mbox), 1);
	store_close(&st);

	for (k = 0; k < nchild; k++) {
		ck_assert(pipe(fds[k]) == 0);
		pids[k] = fork();
		ck_assert_msg(pids[k] >= 0, "fork failed");
		if (pids[k] == 0) {
			for (j = 0; j <= (size_t)k; j++)
				close(fds[j][0]);
			for (j = 0; j < (size_t)k; j++)
				close(fds[j][1]);
			child_main(name, (uint32_t)(round * 10 + k), count,
			    fds[k][1]);
		}
		close(fds[k][1]);
		recs[k] = xcalloc(MAXREC, sizeof(struct rec));
		nrec[k] = 0;
	}
	if (kill_ms >= 0) {
		for (k = 0; k < nchild; k++) {
			nrec[k] = read_recs(fds[k][0], recs[k], 0, 1);
			ck_assert_msg(nrec[k] == 1, "round %d: child %d died "
			    "before its first commit", round, k);
		}
		ts.tv_sec = kill_ms / 1000;
		ts.tv_nsec = (long)(kill_ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		for (k = 0; k < nchild; k++)
			kill(pids[k], SIGKILL);
	}
	for (k = 0; k < nchild; k++) {
		nrec[k] = read_recs(fds[k][0], recs[k], nrec[k], MAXREC);
		close(fds[k][0]);
		ck_assert(waitpid(pids[k], &status, 0) == pids[k]);
		if (kill_ms >= 0)
			ck_assert_msg(WIFSIGNALED(status) &&
			    WTERMSIG(status) == SIGKILL, "round %d: child %d "
			    "ended with status %#x before it was killed (exit "
			    "10-13: open/mailbox/append/pipe failed)", round,
			    k, status);
		else
			ck_assert_msg(WIFEXITED(status) &&
			    WEXITSTATUS(status) == 0, "round %d: child %d "
			    "status %#x (exit 10-13: open/mailbox/append/pipe "
			    "failed)", round, k, status);
	}

	/* Reopen as a fresh process would after the crash. */
	st = tu_open(dir);
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "round %d: store_check after SIGKILL: %d "
	    "problems: %s", round, rc, tu_check_problems());

	/* Every acknowledged message reads back exactly. */
	for (k = 0; k < nchild; k++) {
		for (i = 0; i < nrec[k]; i++) {
			ck_assert_msg(recs[k][i].seq == i, "round %d child %d:"
			    " record %zu has seq %u", round, k, i,
			    recs[k][i].seq);
			want = gen_message((uint32_t)(round * 10 + k),
			    recs[k][i].seq, &len);
			got = NULL;
			rc = tu_read(st, mbox, recs[k][i].uid, &got, &got_len);
			ck_assert_msg(rc == 1 && got_len == len &&
			    memcmp(got, want, len) == 0, "round %d child %d: "
			    "acknowledged seq %u uid %u: rc %d, %zu bytes of "
			    "%zu%s", round, k, recs[k][i].seq, recs[k][i].uid,
			    rc, got_len, len, rc == 1 && got_len == len ?
			    ", bytes differ" : "");
			free(got);
			free(want);
		}
		nlisted[k] = 0;
	}

	/* Every message present is whole and was meant to be written. */
	rc = tu_msg_list(st, mbox, &msgs, &n);
	ck_assert_msg(rc >= 0, "round %d: msg_list: %s", round, tu_err());
	for (i = 0; i < n; i++) {
		got = NULL;
		rc = tu_read(st, mbox, msgs[i].uid, &got, &got_len);
		ck_assert_msg(rc == 1, "round %d: listed uid %u unreadable: rc "
		    "%d: %s", round, msgs[i].uid, rc, tu_err());
		ck_assert_msg(got_len == msgs[i].size, "round %d: uid %u read "
		    "%zu bytes, row says %llu", round, msgs[i].uid, got_len,
		    (unsigned long long)msgs[i].size);
		memset(head, 0, sizeof(head));
		memcpy(head, got, got_len < sizeof(head) - 1 ? got_len :
		    sizeof(head) - 1);
		ck_assert_msg(sscanf(head, "X-Gen: %u %u", &gen, &seq) == 2,
		    "round %d: uid %u does not start with X-Gen", round,
		    msgs[i].uid);
		k = (int)gen - round * 10;
		ck_assert_msg(k >= 0 && k < nchild, "round %d: uid %u has "
		    "generation %u", round, msgs[i].uid, gen);
		want = gen_message(gen, seq, &len);
		ck_assert_msg(got_len == len && memcmp(got, want, len) == 0,
		    "round %d: uid %u (child %d seq %u) is %zu bytes, %zu "
		    "expected, or differs: half-written", round, msgs[i].uid, k,
		    seq, got_len, len);
		ck_assert_msg(seq == nlisted[k], "round %d: child %d's messages"
		    " out of order or duplicated: seq %u at position %zu",
		    round, k, seq, nlisted[k]);
		nlisted[k]++;
		free(want);
		free(got);
	}
	free(msgs);
	for (k = 0; k < nchild; k++) {
		ck_assert_msg(nlisted[k] == nrec[k] || nlisted[k] == nrec[k] +
		    1, "round %d child %d: %zu messages stored, %zu "
		    "acknowledged (at most one may be unacknowledged)", round,
		    k, nlisted[k], nrec[k]);
		if (kill_ms < 0)
			ck_assert_msg(nlisted[k] == count, "round %d child %d:"
			    " %zu of %u messages stored", round, k, nlisted[k],
			    count);
		free(recs[k]);
	}
	store_close(&st);
}

START_TEST(test_kill_single_writer)
{
	static const int delays[] = { 5, 60, 150, 260, 420 };
	int r;

	for (r = 0; r < 5; r++)
		crash_round(r, 1, delays[r], 0);
}
END_TEST

START_TEST(test_kill_concurrent_writers)
{
	crash_round(5, 3, 120, 0);
	crash_round(6, 4, 333, 0);
}
END_TEST

START_TEST(test_concurrent_writers_complete)
{
	crash_round(7, 2, -1, 150);
	crash_round(8, 4, -1, 100);
}
END_TEST

static Suite *
crash_suite(void)
{
	Suite *s = suite_create("store_crash");
	TCase *tc;

	tc = tcase_create("crash");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 280);
	tcase_add_test(tc, test_kill_single_writer);
	tcase_add_test(tc, test_kill_concurrent_writers);
	tcase_add_test(tc, test_concurrent_writers_complete);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(crash_suite());
}
