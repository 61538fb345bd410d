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
 *   store-helper DATA_DIR damage ADDRESS UID
 *	damage the stored bytes of message UID of ADDRESS's INBOX.
 *   store-helper DATA_DIR access IP
 *	print 1 if IP may relay after a POP3 login (POP-before-SMTP), else 0.
 *   store-helper DATA_DIR queue ADDRESS...
 *	queue one small message from helper@example.test for the ADDRESSes
 *	(store_queue_add, one durable transaction) and print "queued ID":
 *	vellumctl's queue list/del tests need entries, and until the SMTP
 *	server queues external mail nothing else makes them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "store/access.h"
#include "store/check.h"
#include "store/lock.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/queue.h"
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
inbox_fn(struct store_txn *t, void *ctx)
{
	struct append *a = ctx;
	struct store_user u;
	struct store_mailbox mb;

	if (store_user_find(t, a->address, &u) != 1 ||
	    store_mailbox_get(t, u.id, "INBOX", &mb) != 1)
		return err_set(ERR_NOTFOUND, "no user %s", a->address);
	a->uid = mb.id;
	return 0;
}

struct queue {
	struct store_queue_entry e;
	struct store_prepared	*prep;
	uint64_t		 id;
};

static int
queue_fn(struct store_txn *t, void *ctx)
{
	struct queue *q = ctx;

	return store_queue_add(t, &q->e, q->prep, &q->id);
}

static int
access_fn(struct store_txn *t, void *ctx)
{
	return store_access_check(t, ctx);
}

static int
usage(void)
{
	fprintf(stderr, "usage: store-helper DATA_DIR lock NAME LEASE "
	    "hold|exit\n       store-helper DATA_DIR append ADDRESS N\n"
	    "       store-helper DATA_DIR damage ADDRESS UID\n"
	    "       store-helper DATA_DIR access IP\n"
	    "       store-helper DATA_DIR queue ADDRESS...\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct store *st;
	struct append a;
	char msg[4096];
	int i, n, len;

	if (argc < 4 || (argc > 6 && strcmp(argv[2], "queue") != 0))
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
	if (strcmp(argv[2], "damage") == 0 && argc == 5) {
		a.address = argv[3];
		if (store_read(st, inbox_fn, &a) == -1 ||
		    store_debug_damage(st, a.uid, (uint32_t)atoi(argv[4])) ==
		    -1) {
			fprintf(stderr, "store-helper: %s\n", err_msg());
			return 1;
		}
		printf("damaged\n");
		return 0;
	}
	if (strcmp(argv[2], "access") == 0 && argc == 4) {
		n = store_read(st, access_fn, argv[3]);
		printf("%d\n", n);
		return n == -1;
	}
	if (strcmp(argv[2], "queue") == 0) {
		static const char qmsg[] = "From: helper@example.test\n"
		    "Subject: queued by store-helper\n\nfor the queue\n";
		struct queue q;
		char id[STORE_QUEUE_ID_LEN + 1];

		memset(&q, 0, sizeof(q));
		snprintf(q.e.sender, sizeof(q.e.sender), "helper@example.test");
		q.e.nrcpts = (size_t)(argc - 3);
		q.e.rcpts = calloc(q.e.nrcpts, sizeof(*q.e.rcpts));
		if (q.e.rcpts == NULL)
			return 1;
		for (i = 3; i < argc; i++)
			snprintf(q.e.rcpts[i - 3].addr,
			    sizeof(q.e.rcpts[i - 3].addr), "%s", argv[i]);
		if (store_msg_prepare(st, qmsg, sizeof(qmsg) - 1,
		    &q.prep) == -1 || store_write(st, queue_fn, &q) == -1) {
			fprintf(stderr, "store-helper: %s\n", err_msg());
			return 1;
		}
		store_prepared_free(&q.prep);
		store_queue_entry_clear(&q.e);
		printf("queued %s\n", store_queue_id_format(q.id, id));
		store_close(&st);
		return 0;
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
