/*
 * check_store_dict.c - zstd dictionaries: trained by store optimize, never
 * by delivery; versioned; segments read back byte-exact at every step.
 *
 * Messages are generated (headers and bodies that share most of their
 * text, as real mail does) so that training finds enough samples.
 */
#include <sys/file.h>

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/dict.h"
#include "testutil.h"

static Suite	*dict_suite(void);

#define NMSGS	(STORE_DICT_TRAIN_AFTER + 100)

static char		*dir;
static struct store	*st;
static uint32_t		 inbox;
static char		*msgs[NMSGS + 16];
static size_t		 lens[NMSGS + 16];
static uint32_t		 uids[NMSGS + 16];

static const char *words[] = {
	"store", "mail", "server", "message", "delivery", "queue", "list",
	"the", "of", "and", "a", "to", "in", "is", "that", "for", "it",
	"with", "as", "was", "on", "be", "at", "by", "this", "had", "not",
	"meeting", "tomorrow", "patch", "release", "build", "kernel",
	"compression", "dictionary", "reply", "thanks", "regards", "please",
};

/* One message: shared header lines and boilerplate, varying details. */
static char *
make_msg(struct tu_rng *r, unsigned i, size_t *len_r)
{
	char *buf = xmalloc(16384);
	size_t n = 0, k, nw;

#define ADD(...) (n += (size_t)snprintf(buf + n, 16384 - n, __VA_ARGS__))
	ADD("Return-Path: <user%u@example%u.org>\n", (unsigned)
	    tu_rng_below(r, 500), (unsigned)tu_rng_below(r, 20));
	ADD("Received: from mail%u.example.net (mail%u.example.net "
	    "[10.%u.%u.%u])\n\tby mx.example.test (Postfix) with ESMTP id "
	    "%08llX\n\tfor <dict@example.test>; Tue, %u Sep 2002 %02u:%02u:%02u"
	    " +0100 (IST)\n", (unsigned)tu_rng_below(r, 50),
	    (unsigned)tu_rng_below(r, 50), (unsigned)tu_rng_below(r, 256),
	    (unsigned)tu_rng_below(r, 256), (unsigned)tu_rng_below(r, 256),
	    (unsigned long long)tu_rng_next(r) & 0xffffffffULL,
	    (unsigned)tu_rng_below(r, 28) + 1, (unsigned)tu_rng_below(r, 24),
	    (unsigned)tu_rng_below(r, 60), (unsigned)tu_rng_below(r, 60));
	ADD("From: \"Sender %u\" <user%u@example.org>\nTo: "
	    "dict@example.test\nSubject: Re: [list] the %s of the %s #%u\n",
	    (unsigned)tu_rng_below(r, 300), (unsigned)tu_rng_below(r, 300),
	    words[tu_rng_below(r, sizeof(words) / sizeof(*words))],
	    words[tu_rng_below(r, sizeof(words) / sizeof(*words))], i);
	ADD("Message-ID: <%llx.%u@example.org>\nMIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=us-ascii\n"
	    "List-Id: Example discussion <list.example.org>\n"
	    "List-Unsubscribe: <mailto:list-request@example.org?subject="
	    "unsubscribe>\n\n", (unsigned long long)tu_rng_next(r), i);
	nw = 40 + tu_rng_below(r, 200);
	for (k = 0; k < nw; k++)
		ADD("%s%s", words[tu_rng_below(r, sizeof(words) /
		    sizeof(*words))], k % 12 == 11 ? "\n" : " ");
	ADD("\n\n_______________________________________________\n"
	    "List mailing list\nList@example.org\n"
	    "https://lists.example.org/mailman/listinfo/list\n");
#undef ADD
	*len_r = n;
	return buf;
}

static void
setup(void)
{
	struct tu_rng r;
	struct store_prepared *p;
	unsigned i, j;
	uint32_t uid;

	dir = tu_tmpdir("dict");
	st = tu_open(dir);
	uid = tu_make_user(st, "dict@example.test");
	inbox = tu_inbox(st, uid);
	tu_rng_seed(&r, 13);
	/* Delivered 100 per durable commit, as a busy server does. */
	for (i = 0; i < NMSGS; i += 100) {
		ck_assert_int_eq(store_batch_begin(st), 0);
		for (j = i; j < i + 100 && j < NMSGS; j++) {
			msgs[j] = make_msg(&r, j, &lens[j]);
			ck_assert_int_eq(store_msg_prepare(st, msgs[j],
			    lens[j], &p), 0);
			ck_assert_int_eq(tu_append_prepared(st, inbox, p, 0,
			    &uids[j]), 1);
			store_prepared_free(&p);
		}
		ck_assert_int_eq(store_batch_commit(st), 0);
	}
}

static void
teardown(void)
{
	size_t i;

	for (i = 0; i < sizeof(msgs) / sizeof(*msgs); i++) {
		free(msgs[i]);
		msgs[i] = NULL;
	}
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

/*
 * Every message reads back byte-exact and the store checks clean, in a
 * store opened again (no dictionary left loaded from before).
 */
static void
all_exact(unsigned n)
{
	void *data;
	size_t len;
	unsigned i;

	store_close(&st);
	st = tu_open(dir);
	for (i = 0; i < n; i++) {
		ck_assert_msg(tu_read(st, inbox, uids[i], &data, &len) == 1,
		    "message %u: %s", i, err_msg());
		ck_assert_uint_eq(len, lens[i]);
		ck_assert_msg(memcmp(data, msgs[i], len) == 0,
		    "message %u differs", i);
		free(data);
	}
	ck_assert_int_eq(store_check(st, NULL, NULL), 0);
}

static uint64_t
n_dicts(void)
{
	struct store_stats s;

	ck_assert_int_eq(store_stats(st, &s), 0);
	return s.dicts;
}

/*
 * More than STORE_DICT_TRAIN_AFTER deliveries train nothing; optimize
 * does, and every segment is then compressed with the dictionaries.
 */
START_TEST(test_delivery_never_trains)
{
	struct store_optimize o = { 0 };
	struct store_stats before, after;

	ck_assert_int_eq(n_dicts(), 0);
	ck_assert_int_eq(store_stats(st, &before), 0);
	ck_assert_int_eq(store_dict_due(st), 1);
	ck_assert_int_eq(store_dict_optimize(st, &o), 0);
	ck_assert_int_eq(o.trained, DICT_KINDS);
	ck_assert_uint_ne(o.dict_ids[DICT_HEADER], 0);
	ck_assert_uint_ne(o.dict_ids[DICT_BODY], 0);
	ck_assert_uint_ne(o.dict_ids[DICT_IMAP], 0);
	ck_assert_uint_eq(o.segments, 2 * NMSGS);
	ck_assert_uint_eq(o.recompressed, 2 * NMSGS);
	ck_assert_uint_eq(o.records, NMSGS);	/* every IMAP record */
	ck_assert_uint_gt(o.batches, 1);	/* small transactions */
	ck_assert_uint_lt(o.bytes_after, o.bytes_before);
	ck_assert_int_eq(store_stats(st, &after), 0);
	ck_assert_uint_eq(after.dicts, DICT_KINDS);
	ck_assert_uint_lt(after.stored_bytes, before.stored_bytes * 3 / 4);
	ck_assert_msg(after.imap_stored_bytes < before.imap_stored_bytes * 3 /
	    4, "IMAP records: %llu -> %llu bytes",
	    (unsigned long long)before.imap_stored_bytes,
	    (unsigned long long)after.imap_stored_bytes);
	/*
	 * The freed pages are used again: the file grows by little more
	 * than the two dictionaries (overflow pages) however much is
	 * rewritten.
	 */
	ck_assert_msg(after.file_bytes <= before.file_bytes +
	    DICT_KINDS * STORE_DICT_SIZE + before.file_bytes / 10,
	    "file grew from %llu to %llu bytes",
	    (unsigned long long)before.file_bytes,
	    (unsigned long long)after.file_bytes);
	all_exact(NMSGS);
}
END_TEST

/* A second optimize finds nothing to do and does not even scan. */
START_TEST(test_second_is_noop)
{
	struct store_optimize o = { 0 };
	struct store_stats a, b;

	ck_assert_int_eq(store_dict_optimize(st, &o), 0);
	ck_assert_int_eq(store_dict_due(st), 0);
	ck_assert_int_eq(store_stats(st, &a), 0);
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(store_dict_optimize(st, &o), 0);
	ck_assert_int_eq(o.trained, 0);
	ck_assert_uint_eq(o.recompressed, 0);
	ck_assert_uint_eq(o.records, 0);
	ck_assert_uint_eq(o.batches, 0);
	ck_assert_int_eq(store_stats(st, &b), 0);
	ck_assert_uint_eq(a.stored_bytes, b.stored_bytes);
	ck_assert_uint_eq(a.file_bytes, b.file_bytes);
	/* Mail delivered after training uses the dictionaries at once. */
	{
		struct tu_rng r;
		uint32_t uid;

		tu_rng_seed(&r, 99);
		msgs[NMSGS] = make_msg(&r, NMSGS, &lens[NMSGS]);
		ck_assert_int_eq(tu_append(st, inbox, msgs[NMSGS],
		    lens[NMSGS], 0, NULL, &uid), 1);
		uids[NMSGS] = uid;
	}
	ck_assert_int_eq(store_dict_due(st), 0);
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(store_dict_optimize(st, &o), 0);
	ck_assert_uint_eq(o.recompressed, 0);
	all_exact(NMSGS + 1);
}
END_TEST

/*
 * Retraining makes new ids; until a pass reaches them, segments stay
 * readable with their old dictionaries (what an interrupted optimize
 * leaves); the pass then moves them and deletes the old dictionaries.
 */
START_TEST(test_versions)
{
	struct store_optimize o = { 0 };
	uint32_t first[DICT_KINDS];

	ck_assert_int_eq(store_dict_optimize(st, &o), 0);
	memcpy(first, o.dict_ids, sizeof(first));
	memset(&o, 0, sizeof(o));
	o.retrain = 1;
	o.train_only = 1;
	ck_assert_int_eq(store_dict_optimize(st, &o), 0);
	ck_assert_int_eq(o.trained, DICT_KINDS);
	ck_assert_uint_gt(o.dict_ids[DICT_HEADER], first[DICT_HEADER]);
	ck_assert_uint_gt(o.dict_ids[DICT_BODY], first[DICT_BODY]);
	ck_assert_uint_gt(o.dict_ids[DICT_IMAP], first[DICT_IMAP]);
	ck_assert_uint_eq(o.recompressed, 0);
	ck_assert_uint_eq(n_dicts(), 2 * DICT_KINDS);
	all_exact(NMSGS);		/* with the old dictionaries */
	ck_assert_int_eq(store_dict_due(st), 1);
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(store_dict_optimize(st, &o), 0);
	ck_assert_int_eq(o.trained, 0);
	ck_assert_uint_eq(o.recompressed, 2 * NMSGS);
	ck_assert_uint_eq(o.records, NMSGS);
	ck_assert_uint_eq(o.dicts_deleted, DICT_KINDS);
	ck_assert_uint_eq(n_dicts(), DICT_KINDS);
	all_exact(NMSGS);
}
END_TEST

/*
 * A message compressed for delivery with a dictionary that an optimize
 * then replaces (and deletes) is compressed again when it is appended.
 */
START_TEST(test_prepared_before_retrain)
{
	struct store_optimize o = { 0 };
	struct store_prepared *p;
	struct tu_rng r;

	ck_assert_int_eq(store_dict_optimize(st, &o), 0);
	tu_rng_seed(&r, 7);
	msgs[NMSGS] = make_msg(&r, NMSGS, &lens[NMSGS]);
	ck_assert_int_eq(store_msg_prepare(st, msgs[NMSGS], lens[NMSGS], &p),
	    0);
	memset(&o, 0, sizeof(o));
	o.retrain = 1;
	ck_assert_int_eq(store_dict_optimize(st, &o), 0);
	ck_assert_int_eq(o.trained, DICT_KINDS);
	ck_assert_uint_eq(o.dicts_deleted, DICT_KINDS);
	ck_assert_int_eq(tu_append_prepared(st, inbox, p, 0, &uids[NMSGS]), 1);
	store_prepared_free(&p);
	all_exact(NMSGS + 1);
	/* Nothing was left on an old dictionary. */
	ck_assert_int_eq(store_dict_due(st), 0);
}
END_TEST

/* One optimize at a time: a second one is refused, not queued. */
START_TEST(test_one_at_a_time)
{
	struct store_optimize o = { 0 };
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/store/optimize.lock", dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	ck_assert_int_eq(store_dict_optimize(st, &o), -1);
	ck_assert_int_eq(err_class(), ERR_INUSE);
	ck_assert_int_eq(n_dicts(), 0);
	close(fd);
	ck_assert_int_eq(store_dict_optimize(st, &o), 0);
	ck_assert_int_eq(o.trained, DICT_KINDS);
}
END_TEST

static Suite *
dict_suite(void)
{
	Suite *s = suite_create("store_dict");
	TCase *tc = tcase_create("dict");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_delivery_never_trains);
	tcase_add_test(tc, test_second_is_noop);
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_prepared_before_retrain);
	tcase_add_test(tc, test_one_at_a_time);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	tu_init();
	return tu_run(dict_suite());
}
