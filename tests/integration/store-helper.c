/*
 * store-helper - what the integration tests need the store to do that
 * vellumctl (rightly) does not offer:
 *
 *   store-helper DATA_DIR lock NAME LEASE hold|exit
 *	take lock NAME for LEASE seconds, print "locked", then either
 *	sleep until killed (hold) or exit without releasing it (exit: the
 *	lock becomes stale because its owner is gone).
 *   store-helper DATA_DIR append ADDRESS N
 *	append N generated messages to ADDRESS's INBOX, one durable
 *	transaction each, printing "appended UID" after each commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "store/lock.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/store.h"
#include "store/user.h"

struct append {
	const char		*address;
	struct store_prepared	*prep;
	uint32_t		 uid;
};

static int
append_fn(struct store_txn *t, void *ctx)
{
	struct append *a = ctx;
	struct store_user u;
	struct store_mailbox mb;

	if (store_user_find(t, a->address, &u) != 1)
		return err_set(ERR_NOTFOUND, "no user %s", a->address);
	if (store_mailbox_get(t, u.id, "INBOX", &mb) != 1)
		return err_set(ERR_NOTFOUND, "no INBOX");
	return store_msg_append(t, mb.id, a->prep, 0, 0, NULL, 0, &a->uid);
}

static int
usage(void)
{
	fprintf(stderr, "usage: store-helper DATA_DIR lock NAME LEASE "
	    "hold|exit\n       store-helper DATA_DIR append ADDRESS N\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct store *st;
	struct append a;
	char msg[4096];
	int i, n, len;

	if (argc != 6 && argc != 5)
		return usage();
	if (store_open(argv[1], STORE_NOCREATE, &st) == -1) {
		fprintf(stderr, "store-helper: %s\n", err_msg());
		return 1;
	}
	if (strcmp(argv[2], "lock") == 0 && argc == 6) {
		if (store_lock_take(st, argv[3], (unsigned)atoi(argv[4])) == -1) {
			fprintf(stderr, "store-helper: %s\n", err_msg());
			return 1;
		}
		printf("locked\n");
		fflush(stdout);
		if (strcmp(argv[5], "hold") == 0)
			for (;;)
				pause();
		_exit(0);	/* without releasing: a stale lock */
	}
	if (strcmp(argv[2], "append") != 0 || argc != 5)
		return usage();
	a.address = argv[3];
	n = atoi(argv[4]);
	for (i = 0; i < n; i++) {
		len = snprintf(msg, sizeof(msg), "From: helper@example.test\n"
		    "Subject: message %d of %d\nMessage-ID: <%d.%ld@helper>\n"
		    "\nbody of message %d\n", i, n, i, (long)getpid(), i);
		if (store_msg_prepare(st, msg, (size_t)len, &a.prep) == -1 ||
		    store_write(st, append_fn, &a) == -1) {
			fprintf(stderr, "store-helper: %s\n", err_msg());
			return 1;
		}
		store_prepared_free(&a.prep);
		printf("appended %u\n", a.uid);
		fflush(stdout);
	}
	store_close(&st);
	return 0;
}
