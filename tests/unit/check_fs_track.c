/*
 * check_fs_track.c - the state the file view keeps per mailbox
 * (fs/track.c) against a real store: a mailbox that is gone keeps none,
 * whether its deletion was notified or found by a resync after lost
 * notifications (folders made and deleted in a loop must not grow it).
 * The kernel invalidations are counted instead of sent (no FUSE here).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "store/mailbox.h"
#include "store/store.h"
#include "testutil.h"

static Suite	*fstrack_suite(void);

static unsigned	 n_inval;

/* fs/inval.c's queue, replaced: counted. */
void
fs_inval_entry(uint64_t parent, const char *name)
{
	(void)parent;
	(void)name;
	n_inval++;
}

void
fs_inval_inode(uint64_t ino)
{
	(void)ino;
	n_inval++;
}

struct del {
	uint32_t	 user;
	const char	*name;
};

static int
del_txn(struct store_txn *t, void *ctx)
{
	struct del *d = ctx;

	return store_mailbox_delete(t, d->user, d->name);
}

static uint32_t
folder_make(uint32_t user, const char *name)
{
	uint32_t id = 0;

	ck_assert_int_eq(tu_mailbox_create(fs.store, user, name, 0, &id), 1);
	return id;
}

static void
folder_delete(uint32_t user, const char *name)
{
	struct del d = { user, name };

	ck_assert_int_eq(store_write(fs.store, del_txn, &d), 1);
}

START_TEST(test_gone_mailboxes_keep_no_state)
{
	char *dir = tu_tmpdir("fstrack"), name[32];
	uint32_t user, inbox, id, ids[10];
	size_t base;
	int i;

	fs.store = tu_open(dir);
	fs.hostname = "mail.example.test";
	user = tu_make_user(fs.store, "track@example.test");
	inbox = tu_inbox(fs.store, user);
	fs_track_sync(inbox);
	(void)fs_dir_mtime(inbox);
	base = fs_dir_count();
	ck_assert_uint_eq(base, 1);

	/* Made, looked at, deleted, each notified: nothing stays. */
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "Loop%d", i);
		id = folder_make(user, name);
		fs_track_sync(id);
		(void)fs_dir_mtime(id);
		folder_delete(user, name);
		fs_track_sync(id);
	}
	ck_assert_uint_eq(fs_dir_count(), base);

	/* Deleted without a notification: the resync finds them gone. */
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "Quiet%d", i);
		ids[i] = folder_make(user, name);
		fs_track_sync(ids[i]);
	}
	ck_assert_uint_eq(fs_dir_count(), base + 10);
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "Quiet%d", i);
		folder_delete(user, name);
	}
	fs_track_sync(0);
	ck_assert_uint_eq(fs_dir_count(), base);
	/* The INBOX's state stays, and its mtime still moves. */
	{
		struct timespec a = fs_dir_mtime(inbox), b;

		fs_track_sync(inbox);
		b = fs_dir_mtime(inbox);
		ck_assert(b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec &&
		    b.tv_nsec > a.tv_nsec));
	}
	ck_assert_uint_gt(n_inval, 0);
	store_close(&fs.store);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *
fstrack_suite(void)
{
	Suite *s = suite_create("fs_track");
	TCase *tc = tcase_create("state");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_gone_mailboxes_keep_no_state);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(fstrack_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
