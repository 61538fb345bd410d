/*
 * check_store_trim.c - which free pages store_trim() punches: only those
 * freed since the last trim, nothing (and no commit) when they are a
 * small share of the file, every page after a large release, what a
 * reader kept from the last trim, and all of them again in a store whose
 * transaction ids started over (a compacted copy).  check_store_format.c proves the store reads and works after.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "store/private.h"
#include "store/trim.h"
#include "testutil.h"

static Suite	*trim_suite(void);

#define NMSGS	4000

static char		*dir;
static struct store	*st;
static uint32_t		 inbox;
static uint32_t		 uids[NMSGS + 10];

/* A message of random words: its own blob, about 3 KB. */
static char *
make_msg(struct tu_rng *r, unsigned i, size_t *len_r)
{
	char *buf = xmalloc(8192);
	size_t n = 0, k;

	n += (size_t)snprintf(buf + n, 8192 - n, "From: a%u@example.org\n"
	    "To: trim@example.test\nSubject: trim %u\nMessage-ID: <%llx.%u@"
	    "example.org>\n\n", i, i, (unsigned long long)tu_rng_next(r), i);
	for (k = 0; k < 300; k++)
		n += (size_t)snprintf(buf + n, 8192 - n, "w%llx%s",
		    (unsigned long long)tu_rng_below(r, 1u << 20),
		    k % 10 == 9 ? "\n" : " ");
	*len_r = n;
	return buf;
}

static void
append(unsigned first, unsigned count)
{
	struct tu_rng r;
	char *m;
	size_t len;
	unsigned i;

	tu_rng_seed(&r, first + 1);
	for (i = first; i < first + count; i++) {
		m = make_msg(&r, i, &len);
		ck_assert_int_eq(tu_append(st, inbox, m, len, 0, NULL,
		    &uids[i]), 1);
		free(m);
	}
}

static void
setup(void)
{
	struct store_prepared *p;
	struct tu_rng r;
	char *m;
	size_t len;
	unsigned i, j;

	/* The rules of large files (store/trim.c), in a small store. */
	store_trim_small_pages = 0;
	dir = tu_tmpdir("trim");
	st = tu_open(dir);
	inbox = tu_inbox(st, tu_make_user(st, "trim@example.test"));
	tu_rng_seed(&r, 14);
	for (i = 0; i < NMSGS; i += 200) {
		ck_assert_int_eq(store_batch_begin(st), 0);
		for (j = i; j < i + 200; j++) {
			m = make_msg(&r, j, &len);
			ck_assert_int_eq(store_msg_prepare(st, m, len, &p), 0);
			ck_assert_int_eq(tu_append_prepared(st, inbox, p, 0,
			    &uids[j]), 1);
			store_prepared_free(&p);
			free(m);
		}
		ck_assert_int_eq(store_batch_commit(st), 0);
	}
}

static void
teardown(void)
{
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

static size_t
last_txn(void)
{
	MDB_envinfo info;

	ck_assert_int_eq(mdb_env_info(st->env, &info), 0);
	return info.me_last_txnid;
}

static size_t
file_pages(void)
{
	MDB_envinfo info;

	ck_assert_int_eq(mdb_env_info(st->env, &info), 0);
	return info.me_last_pgno + 1;
}

/* Every message but the last 50, in one commit. */
static void
expunge_most(void)
{
	unsigned i;

	ck_assert_int_eq(store_batch_begin(st), 0);
	for (i = 0; i < NMSGS - 50; i++)
		ck_assert_int_eq(tu_expunge(st, inbox, uids[i]), 1);
	ck_assert_int_eq(store_batch_commit(st), 0);
}

static int
set_from_txn(struct store_txn *t, void *ctx)
{
	uint8_t b[8];

	be64enc(b, *(uint64_t *)ctx);
	return sdb_put(t, DB_META, "trimmed_txn", 11, b, 8, 0) == -1 ? -1 : 0;
}

/*
 * After expunging most mail every free page is punched (a large share of
 * the file); a second trim finds only what the first one freed itself,
 * punches nothing and commits nothing.
 */
START_TEST(test_trim_only_new)
{
	struct store_trim tr;
	size_t txn;

	expunge_most();
	ck_assert_int_eq(store_trim(st, &tr), 0);
	ck_assert_uint_gt(tr.new_pages, file_pages() / 16);
	if (tr.pages == 0)
		return;		/* no hole punching here: nothing to see */
	ck_assert_uint_gt(tr.bytes_before, tr.bytes_after);
	txn = last_txn();
	ck_assert_int_eq(store_trim(st, &tr), 0);
	ck_assert_msg(tr.new_pages < file_pages() / 64,
	    "%llu new free pages after a trim (file %zu pages)",
	    (unsigned long long)tr.new_pages, file_pages());
	ck_assert_uint_eq(tr.pages, 0);
	ck_assert_uint_eq(last_txn(), txn);
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
}
END_TEST

/*
 * A message into the store frees a few scattered pages: left to
 * LMDB (no commit) until they add up to 1/64 of the file; then the ones
 * that are not in runs of 16 pages stay unpunched.
 */
START_TEST(test_trim_small_frees)
{
	struct store_trim tr;
	size_t txn;
	unsigned i;

	ck_assert_int_eq(store_trim(st, &tr), 0);
	append(NMSGS, 1);
	txn = last_txn();
	ck_assert_int_eq(store_trim(st, &tr), 0);
	ck_assert_msg(tr.new_pages < file_pages() / 64,
	    "a message freed %llu pages of %zu",
	    (unsigned long long)tr.new_pages, file_pages());
	ck_assert_uint_eq(tr.pages, 0);
	ck_assert_uint_eq(last_txn(), txn);
	/* Many more: now counted and looked at, still mostly single pages. */
	for (i = NMSGS + 1; i < NMSGS + 10; i++)
		append(i, 1);
	ck_assert_int_eq(store_trim(st, &tr), 0);
	if (tr.new_pages >= file_pages() / 64 &&
	    tr.new_pages < file_pages() / 16)
		ck_assert_uint_lt(tr.pages, tr.new_pages);
	for (i = 0; i < NMSGS + 10; i += 7) {
		void *data;
		size_t len;

		ck_assert_int_eq(tu_read(st, inbox, uids[i], &data, &len), 1);
		free(data);
	}
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
}
END_TEST

/*
 * A snapshot older than the mark keeps its pages: the trim punches none
 * of what was freed since, and the next one, once the reader is gone,
 * starts where the snapshot was and punches them.
 */
START_TEST(test_trim_after_reader)
{
	struct store_trim tr;
	MDB_txn *rt;

	ck_assert_int_eq(store_trim(st, &tr), 0);
	ck_assert_int_eq(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &rt), 0);
	expunge_most();
	ck_assert_int_eq(store_trim(st, &tr), 0);
	ck_assert_uint_gt(tr.new_pages, file_pages() / 16);
	ck_assert_uint_eq(tr.pages, 0);
	mdb_txn_abort(rt);
	ck_assert_int_eq(store_trim(st, &tr), 0);
	ck_assert_uint_gt(tr.new_pages, file_pages() / 16);
	if (tr.pages == 0)
		return;		/* no hole punching here */
	ck_assert_uint_gt(tr.bytes_before, tr.bytes_after);
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
}
END_TEST

/* A start past the last transaction (ids started over): all looked at. */
START_TEST(test_trim_ids_start_over)
{
	struct store_trim tr;
	uint64_t far = (uint64_t)1 << 40;

	ck_assert_int_eq(store_write(st, set_from_txn, &far), 0);
	expunge_most();
	ck_assert_int_eq(store_trim(st, &tr), 0);
	ck_assert_uint_gt(tr.new_pages, file_pages() / 16);
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
}
END_TEST

static Suite *
trim_suite(void)
{
	Suite *s = suite_create("store_trim");
	TCase *tc = tcase_create("trim");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_trim_only_new);
	tcase_add_test(tc, test_trim_small_frees);
	tcase_add_test(tc, test_trim_after_reader);
	tcase_add_test(tc, test_trim_ids_start_over);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	tu_init();
	return tu_run(trim_suite());
}
