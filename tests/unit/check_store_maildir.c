/*
 * check_store_maildir.c - keyword letters of the Maildir view
 * (store/maildir.h): info letters and their parse, the per-mailbox
 * keyword lists kept by append, copy, move and flag changes, their limit,
 * their end with the mailbox, the schema 3 upgrade that builds them for
 * an older store, and store check's view of them.
 */
#include <check.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/maildir.h"
#include "testutil.h"

static Suite	*maildir_suite(void);

static char		*dir;
static struct store	*st;
static uint32_t		 user, inbox;

static const char msg1[] = "From: a@example.test\r\nSubject: one\r\n\r\n1\r\n";
static const char msg2[] = "From: b@example.test\r\nSubject: two\r\n\r\n22\r\n";

static void
setup(void)
{
	dir = tu_tmpdir("maildir");
	st = tu_open(dir);
	user = tu_make_user(st, "kw@example.test");
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

struct kwop {
	uint32_t	 box;
	char		*list;
	int		 rc;
};

static int
kw_fn(struct store_txn *t, void *ctx)
{
	struct kwop *o = ctx;

	o->rc = store_maildir_keywords(t, o->box, &o->list);
	return o->rc == -1 ? -1 : 0;
}

/* The keyword list of box; the test fails when there is no such box. */
static char *
kwlist(uint32_t box)
{
	struct kwop o = { box, NULL, 0 };

	ck_assert_msg(store_read(st, kw_fn, &o) == 0, "keywords of %u: %s",
	    box, tu_err());
	ck_assert_msg(o.rc == 1, "no mailbox %u", box);
	return o.list;
}

static void
assert_list(uint32_t box, const char *want, const char *what)
{
	char *got = kwlist(box);

	ck_assert_msg(strcmp(got, want) == 0, "%s: list of mailbox %u is "
	    "'%s', wanted '%s'", what, box, got, want);
	free(got);
}

/* The info letters of message (box, uid) against the box's list. */
static void
assert_letters(uint32_t box, uint32_t uid, const char *want,
    const char *what)
{
	struct store_msg m;
	char buf[STORE_MAILDIR_INFO_MAX], *list;

	ck_assert_int_eq(tu_msg_get(st, box, uid, &m), 1);
	list = kwlist(box);
	store_maildir_info(m.flags, m.keywords, list, buf);
	ck_assert_msg(strcmp(buf, want) == 0, "%s: uid %u (flags %#x, "
	    "keywords '%s', list '%s') has letters '%s', wanted '%s'", what,
	    uid, m.flags, m.keywords, list, buf, want);
	free(list);
}

START_TEST(test_info_round_trip)
{
	static const char *const kwsets[] = {
		NULL, "", "$Junk", "work", "$Junk work", "work $Junk",
		"$Forwarded", "later $Forwarded $Junk", "WORK", "unknown",
		"$junk unknown later",
	};
	const char *list = "$Junk work later";
	char buf[STORE_MAILDIR_INFO_MAX], kw[STORE_KEYWORDS_MAX + 1];
	char again[STORE_MAILDIR_INFO_MAX];
	uint32_t flags, back;
	size_t i, j;

	for (flags = 0; flags <= STORE_F_ALL; flags++)
		for (i = 0; i < sizeof(kwsets) / sizeof(kwsets[0]); i++) {
			store_maildir_info(flags, kwsets[i], list, buf);
			for (j = 1; buf[0] != '\0' && buf[j] != '\0'; j++)
				ck_assert_msg(buf[j - 1] < buf[j], "letters '%s' "
				    "of flags %#x keywords '%s' are not in "
				    "ASCII order", buf, flags, kwsets[i]);
			store_maildir_info_parse(buf, list, &back, kw);
			ck_assert_msg(back == flags, "'%s' parsed to flags "
			    "%#x, made from %#x", buf, back, flags);
			/* Back to letters: the same (names without a letter
			   are gone, which is all that may differ). */
			store_maildir_info(back, kw, list, again);
			ck_assert_msg(strcmp(again, buf) == 0, "'%s' -> '%s' "
			    "-> '%s'", buf, kw, again);
		}
	ck_assert_str_eq(store_maildir_info(STORE_F_ALL, "later $Forwarded "
	    "$Junk", list, buf), "DFPRSTac");
	ck_assert_str_eq(store_maildir_info(STORE_F_SEEN, "WORK", list, buf),
	    "Sb");
	ck_assert_str_eq(store_maildir_info(0, "unknown", list, buf), "");
	ck_assert_str_eq(store_maildir_info(STORE_F_ANSWERED |
	    STORE_F_DELETED, NULL, NULL, buf), "RT");
	/* Parse: P is $Forwarded, unknown letters and letters past the list
	   mean nothing, repeats count once. */
	store_maildir_info_parse("PSbXzab1", list, &back, kw);
	ck_assert_uint_eq(back, STORE_F_SEEN);
	ck_assert_str_eq(kw, "$Forwarded work $Junk");
	store_maildir_info_parse("", "", &back, kw);
	ck_assert_uint_eq(back, 0);
	ck_assert_str_eq(kw, "");
}
END_TEST

START_TEST(test_first_use_order)
{
	uint32_t u1, u2, u3;

	assert_list(inbox, "", "a new mailbox");
	ck_assert_int_eq(tu_append(st, inbox, msg1, sizeof(msg1) - 1, 0,
	    "zeta $Junk", &u1), 1);
	ck_assert_int_eq(tu_append(st, inbox, msg2, sizeof(msg2) - 1, 0,
	    NULL, &u2), 1);
	assert_list(inbox, "zeta $Junk", "after the first append");
	/* Known names (any case) add nothing; $Forwarded is never listed. */
	ck_assert_int_eq(tu_append(st, inbox, msg2, sizeof(msg2) - 1,
	    STORE_F_SEEN, "$junk ZETA $Forwarded alpha", &u3), 1);
	assert_list(inbox, "zeta $Junk alpha", "after the second");
	ck_assert_int_eq(tu_set_flags(st, inbox, u2, STORE_FLAGS_ADD,
	    STORE_F_FLAGGED, "beta $Forwarded"), 1);
	assert_list(inbox, "zeta $Junk alpha beta", "after a flag change");
	/* SET mode registers too; REMOVE never adds. */
	ck_assert_int_eq(tu_set_flags(st, inbox, u1, STORE_FLAGS_SET, 0,
	    "gamma"), 1);
	ck_assert_int_eq(tu_set_flags(st, inbox, u3, STORE_FLAGS_REMOVE, 0,
	    "delta alpha"), 1);
	assert_list(inbox, "zeta $Junk alpha beta gamma", "after SET/REMOVE");
	assert_letters(inbox, u1, "e", "uid 1");
	assert_letters(inbox, u2, "FPd", "uid 2");
	assert_letters(inbox, u3, "PSab", "uid 3");
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());
}
END_TEST

START_TEST(test_letters_stable_after_expunge)
{
	uint32_t u1, u2, u3;

	ck_assert_int_eq(tu_append(st, inbox, msg1, sizeof(msg1) - 1, 0,
	    "first", &u1), 1);
	ck_assert_int_eq(tu_append(st, inbox, msg2, sizeof(msg2) - 1, 0,
	    "second", &u2), 1);
	assert_letters(inbox, u2, "b", "before the expunge");
	ck_assert_int_eq(tu_expunge(st, inbox, u1), 1);
	assert_list(inbox, "first second", "after expunging the only "
	    "message with 'first'");
	assert_letters(inbox, u2, "b", "after the expunge");
	/* And across a reopen. */
	store_close(&st);
	st = tu_open(dir);
	ck_assert_int_eq(tu_append(st, inbox, msg1, sizeof(msg1) - 1, 0,
	    "third first", &u3), 1);
	assert_list(inbox, "first second third", "after a reopen");
	assert_letters(inbox, u2, "b", "after a reopen");
	assert_letters(inbox, u3, "ac", "a new message");
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());
}
END_TEST

START_TEST(test_copy_move_register_in_target)
{
	uint32_t box, u1, u2, c1, c2;

	ck_assert_int_eq(tu_mailbox_create(st, user, "Work", 0, &box), 1);
	ck_assert_int_eq(tu_append(st, inbox, msg1, sizeof(msg1) - 1, 0,
	    "one two", &u1), 1);
	ck_assert_int_eq(tu_append(st, inbox, msg2, sizeof(msg2) - 1, 0,
	    "three", &u2), 1);
	assert_list(box, "", "target before");
	ck_assert_int_eq(tu_copy(st, inbox, u2, box, &c1), 1);
	assert_list(box, "three", "target after the copy");
	ck_assert_int_eq(tu_move(st, inbox, u1, box, &c2), 1);
	assert_list(box, "three one two", "target after the move");
	assert_list(inbox, "one two three", "the source keeps its list");
	assert_letters(box, c1, "a", "the copy");
	assert_letters(box, c2, "bc", "the moved message");
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());
}
END_TEST

START_TEST(test_27th_keyword_has_no_letter)
{
	char kw[STORE_KEYWORDS_MAX + 1], want[64], buf[STORE_MAILDIR_INFO_MAX];
	char *list, back[STORE_KEYWORDS_MAX + 1];
	struct store_msg m;
	uint32_t u1, u2, flags;
	size_t o = 0;
	int i;

	/* k00 .. k26 on one message: 27 keywords, 26 letters. */
	for (i = 0; i < 27; i++)
		o += (size_t)snprintf(kw + o, sizeof(kw) - o, "%sk%02d",
		    i > 0 ? " " : "", i);
	ck_assert_int_eq(tu_append(st, inbox, msg1, sizeof(msg1) - 1, 0, kw,
	    &u1), 1);
	list = kwlist(inbox);
	ck_assert_msg(strstr(list, "k25") != NULL && strstr(list, "k26") ==
	    NULL, "the list took the first 26 only: '%s'", list);
	free(list);
	for (i = 0; i < 26; i++)
		want[i] = (char)('a' + i);
	want[26] = '\0';
	assert_letters(inbox, u1, want, "27 keywords");
	/* A later keyword is not listed either, and gets no letter. */
	ck_assert_int_eq(tu_append(st, inbox, msg2, sizeof(msg2) - 1, 0,
	    "late k03", &u2), 1);
	assert_letters(inbox, u2, "d", "a keyword past the 26th");
	/* Parsing the letters gives back the 26 named ones. */
	ck_assert_int_eq(tu_msg_get(st, inbox, u1, &m), 1);
	list = kwlist(inbox);
	store_maildir_info_parse(store_maildir_info(m.flags, m.keywords, list,
	    buf), list, &flags, back);
	ck_assert_msg(strncmp(back, "k00 k01", 7) == 0 && strstr(back,
	    "k25") != NULL && strstr(back, "k26") == NULL, "parsed '%s'",
	    back);
	free(list);
	/* Full lists are not a problem for store check. */
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());
}
END_TEST

static int
box_del_fn(struct store_txn *t, void *ctx)
{
	return store_mailbox_delete(t, user, ctx);
}

START_TEST(test_delete_removes_the_list)
{
	struct kwop o = { 0, NULL, 0 };
	uint32_t box, other, u;

	ck_assert_int_eq(tu_mailbox_create(st, user, "Old", 0, &box), 1);
	ck_assert_int_eq(tu_append(st, box, msg1, sizeof(msg1) - 1, 0,
	    "gone", &u), 1);
	assert_list(box, "gone", "before");
	ck_assert_int_eq(store_write(st, box_del_fn, "Old"), 1);
	o.box = box;
	ck_assert_int_eq(store_read(st, kw_fn, &o), 0);
	ck_assert_msg(o.rc == 0 && o.list == NULL, "a deleted mailbox still "
	    "has a list (rc %d)", o.rc);
	/* store check names a list left behind: none is. */
	ck_assert_msg(tu_check(st) == 0, "check after delete: %s",
	    tu_check_problems());
	/* A user's deletion takes its lists. */
	other = tu_make_user(st, "other@example.test");
	ck_assert_int_eq(tu_append(st, tu_inbox(st, other), msg2,
	    sizeof(msg2) - 1, 0, "mine", &u), 1);
	ck_assert_int_eq(tu_user_del(st, other), 1);
	ck_assert_msg(tu_check(st) == 0, "check after user del: %s",
	    tu_check_problems());
}
END_TEST

/* Raw LMDB on the closed store ------------------------------------------ */

struct raw {
	MDB_env	*env;
	MDB_txn	*txn;
};

static void
raw_open(struct raw *r)
{
	char *path;

	ck_assert(asprintf(&path, "%s/store", dir) > 0);
	ck_assert(mdb_env_create(&r->env) == 0);
	mdb_env_set_maxdbs(r->env, 64);
	mdb_env_set_mapsize(r->env, 1ULL << 30);
	ck_assert(mdb_env_open(r->env, path, MDB_NOTLS, 0600) == 0);
	ck_assert(mdb_txn_begin(r->env, NULL, 0, &r->txn) == 0);
	free(path);
}

static void
raw_close(struct raw *r)
{
	ck_assert(mdb_txn_commit(r->txn) == 0);
	mdb_env_close(r->env);
}

/*
 * What schema 2 wrote: version 2, no maildirkw table (drop 0: the table
 * is kept, as an upgrade killed before it wrote the version leaves it).
 */
static void
make_v2(int drop)
{
	struct raw r;
	MDB_dbi meta, kw;
	uint8_t ver[4] = { 0, 0, 0, 2 };
	MDB_val k = { 7, "version" }, v = { 4, ver };

	raw_open(&r);
	ck_assert(mdb_dbi_open(r.txn, "meta", 0, &meta) == 0);
	ck_assert(mdb_put(r.txn, meta, &k, &v, 0) == 0);
	ck_assert(mdb_dbi_open(r.txn, "maildirkw", 0, &kw) == 0);
	if (drop)
		ck_assert(mdb_drop(r.txn, kw, 1) == 0);
	raw_close(&r);
}

static uint32_t
raw_version(void)
{
	struct raw r;
	MDB_dbi meta;
	MDB_val k = { 7, "version" }, v;
	const uint8_t *p;
	uint32_t ver = 0;

	raw_open(&r);
	ck_assert(mdb_dbi_open(r.txn, "meta", 0, &meta) == 0);
	if (mdb_get(r.txn, meta, &k, &v) == 0 && v.mv_size == 4) {
		p = v.mv_data;
		ver = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
	}
	raw_close(&r);
	return ver;
}

/* Deletes mailbox id's list behind the store's back. */
static void
raw_drop_list(uint32_t id)
{
	struct raw r;
	MDB_dbi kw;
	uint8_t key[4] = { (uint8_t)(id >> 24), (uint8_t)(id >> 16),
	    (uint8_t)(id >> 8), (uint8_t)id };
	MDB_val k = { 4, key };

	raw_open(&r);
	ck_assert(mdb_dbi_open(r.txn, "maildirkw", 0, &kw) == 0);
	ck_assert(mdb_del(r.txn, kw, &k, NULL) == 0);
	raw_close(&r);
}

/* Many rows in one transaction: keyword kw at the uids in at[]. */
struct bulk {
	uint32_t		 box;
	struct store_prepared	*p;
	size_t			 n;
	const uint32_t		*at;
	const char *const	*kw;
	size_t			 nat;
};

static int
bulk_fn(struct store_txn *t, void *ctx)
{
	struct bulk *b = ctx;
	const char *kw;
	uint32_t uid;
	size_t i, j;

	for (i = 1; i <= b->n; i++) {
		for (kw = NULL, j = 0; j < b->nat; j++)
			if (b->at[j] == i)
				kw = b->kw[j];
		if (store_msg_append(t, b->box, b->p, 0, 0, kw, 0, &uid) != 1)
			return -1;
	}
	return 0;
}

START_TEST(test_upgrade_builds_lists)
{
	static const uint32_t at[] = { 2, 700, 1025, 1500 };
	static const char *const kws[] = { "zeta", "alpha zeta", "$Junk",
	    "omega $Forwarded" };
	struct bulk b = { 0, NULL, 1500, at, kws, 4 };
	char kw[STORE_KEYWORDS_MAX + 1], *list;
	uint32_t box, full, u;
	size_t o = 0;
	int i;

	/*
	 * INBOX: 1500 rows, more than one upgrade transaction (1024 rows):
	 * uid 1025 is the first row of the second.
	 */
	ck_assert_int_eq(store_msg_prepare(st, msg1, sizeof(msg1) - 1, &b.p),
	    0);
	b.box = inbox;
	ck_assert_msg(store_write(st, bulk_fn, &b) == 0, "bulk: %s",
	    tu_err());
	store_prepared_free(&b.p);
	/* A second folder, first used "b" then "a". */
	ck_assert_int_eq(tu_mailbox_create(st, user, "Two", 0, &box), 1);
	ck_assert_int_eq(tu_append(st, box, msg2, sizeof(msg2) - 1, 0, "b",
	    &u), 1);
	ck_assert_int_eq(tu_append(st, box, msg2, sizeof(msg2) - 1, 0,
	    "a b", &u), 1);
	/* A third with 30 keywords: full at 26. */
	ck_assert_int_eq(tu_mailbox_create(st, user, "Full", 0, &full), 1);
	for (i = 0; i < 30; i++)
		o += (size_t)snprintf(kw + o, sizeof(kw) - o, "%sk%02d",
		    i > 0 ? " " : "", i);
	ck_assert_int_eq(tu_append(st, full, msg1, sizeof(msg1) - 1, 0, kw,
	    &u), 1);
	ck_assert_int_eq(tu_append(st, full, msg1, sizeof(msg1) - 1, 0,
	    "late", &u), 1);
	assert_list(inbox, "zeta alpha $Junk omega", "before (as appended)");
	store_close(&st);
	make_v2(1);
	ck_assert_uint_eq(raw_version(), 2);

	/* A read-only open of the old store: empty lists, a clean check. */
	ck_assert_msg(store_open(dir, STORE_RDONLY, &st) == 0, "read-only "
	    "open of a schema 2 store: %s", tu_err());
	assert_list(inbox, "", "read-only schema 2");
	ck_assert_msg(tu_check(st) == 0, "check of the schema 2 store: %s",
	    tu_check_problems());
	store_close(&st);
	ck_assert_uint_eq(raw_version(), 2);

	/* A writable open upgrades: lists in uid order. */
	st = tu_open(dir);
	ck_assert_uint_eq(raw_version(), 6);
	assert_list(inbox, "zeta alpha $Junk omega", "INBOX after the "
	    "upgrade");
	assert_list(box, "b a", "Two after the upgrade");
	list = kwlist(full);
	ck_assert_msg(strncmp(list, "k00 k01 ", 8) == 0 && strstr(list,
	    "k25") != NULL && strstr(list, "k26") == NULL && strstr(list,
	    "late") == NULL, "Full after the upgrade: '%s'", list);
	free(list);
	assert_letters(inbox, 700, "ab", "INBOX uid 700");
	assert_letters(inbox, 1500, "Pd", "INBOX uid 1500");
	ck_assert_msg(tu_check(st) == 0, "check after the upgrade: %s",
	    tu_check_problems());
	/* Idempotent: upgrading again over the lists (as after a kill
	   before the version was written) keeps them as they are. */
	store_close(&st);
	make_v2(0);
	st = tu_open(dir);
	assert_list(inbox, "zeta alpha $Junk omega", "after a second upgrade");
	assert_list(box, "b a", "Two after a second upgrade");
}
END_TEST

START_TEST(test_check_finds_unlisted_keyword)
{
	uint32_t u;

	ck_assert_int_eq(tu_append(st, inbox, msg1, sizeof(msg1) - 1, 0,
	    "listed", &u), 1);
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());
	store_close(&st);
	raw_drop_list(inbox);
	st = tu_open(dir);
	ck_assert_msg(tu_check(st) == 1 && strstr(tu_check_problems(),
	    "'listed'") != NULL && strstr(tu_check_problems(),
	    "keyword list") != NULL, "check of a mailbox whose list lost a "
	    "keyword: %s", tu_check_problems());
}
END_TEST

struct cur_op {
	uint32_t	box, uid;
	int		cur;
};

static int
cur_fn(struct store_txn *t, void *ctx)
{
	struct cur_op *o = ctx;

	return store_msg_set_maildir_cur(t, o->box, o->uid, o->cur) == 1 ? 0 :
	    -1;
}

/*
 * maildir_cur: a message the file view moved out of new/ stays in cur/
 * (the bit survives in the row, costs no modseq), a copy or move starts
 * without it, flags changes keep it, and a rename back into new/ clears
 * it.
 */
START_TEST(test_maildir_cur_bit)
{
	struct store_mailbox mb;
	struct store_msg m;
	struct cur_op o;
	uint32_t box, u1, c1;
	uint64_t modseq;

	ck_assert_int_eq(tu_mailbox_create(st, user, "Work", 0, &box), 1);
	ck_assert_int_eq(tu_append(st, inbox, msg1, sizeof(msg1) - 1, 0,
	    NULL, &u1), 1);
	ck_assert_int_eq(tu_msg_get(st, inbox, u1, &m), 1);
	ck_assert_msg(!m.maildir_cur, "a new message is not in cur/");
	ck_assert_int_eq(tu_mailbox_get_by_id(st, inbox, &mb), 1);
	modseq = mb.highestmodseq;
	o.box = inbox;
	o.uid = u1;
	o.cur = 1;
	ck_assert_msg(store_write(st, cur_fn, &o) == 0, "set: %s", err_msg());
	ck_assert_int_eq(tu_msg_get(st, inbox, u1, &m), 1);
	ck_assert_msg(m.maildir_cur, "maildir_cur did not stick");
	ck_assert_int_eq(tu_mailbox_get_by_id(st, inbox, &mb), 1);
	ck_assert_msg(mb.highestmodseq == modseq, "maildir_cur moved the "
	    "modseq (%llu -> %llu)", (unsigned long long)modseq,
	    (unsigned long long)mb.highestmodseq);
	ck_assert_int_eq(tu_set_flags(st, inbox, u1, STORE_FLAGS_ADD,
	    STORE_F_FLAGGED, NULL), 1);
	ck_assert_int_eq(tu_msg_get(st, inbox, u1, &m), 1);
	ck_assert_msg(m.maildir_cur && m.flags == STORE_F_FLAGGED,
	    "flags lost maildir_cur (cur %d flags %u)", m.maildir_cur,
	    m.flags);
	ck_assert_int_eq(tu_copy(st, inbox, u1, box, &c1), 1);
	ck_assert_int_eq(tu_msg_get(st, box, c1, &m), 1);
	ck_assert_msg(!m.maildir_cur, "a copy kept maildir_cur");
	/* Renamed back into new/: cleared. */
	o.cur = 0;
	ck_assert_msg(store_write(st, cur_fn, &o) == 0, "clear: %s",
	    err_msg());
	ck_assert_int_eq(tu_msg_get(st, inbox, u1, &m), 1);
	ck_assert_msg(!m.maildir_cur, "maildir_cur could not be cleared");
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());
}
END_TEST

static Suite *
maildir_suite(void)
{
	Suite *s = suite_create("store_maildir");
	TCase *tc;

	tc = tcase_create("maildir");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_info_round_trip);
	tcase_add_test(tc, test_first_use_order);
	tcase_add_test(tc, test_letters_stable_after_expunge);
	tcase_add_test(tc, test_copy_move_register_in_target);
	tcase_add_test(tc, test_27th_keyword_has_no_letter);
	tcase_add_test(tc, test_delete_removes_the_list);
	tcase_add_test(tc, test_upgrade_builds_lists);
	tcase_add_test(tc, test_check_finds_unlisted_keyword);
	tcase_add_test(tc, test_maildir_cur_bit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(maildir_suite());
}
