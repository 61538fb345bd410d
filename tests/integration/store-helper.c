/*
 * store-helper - what the integration tests need the store to do that
 * vellumctl (rightly) does not offer:
 *
 *   store-helper DATA_DIR lock NAME LEASE hold|exit|share|share-exit
 *	take lock NAME for LEASE seconds, print "locked", then either
 *	sleep until killed (hold) or exit without releasing it (exit: the
 *	lock becomes stale because its owner is gone).  share, share-exit:
 *	the same, the lock taken shared as a delivery without filters
 *	takes it (other processes may hold it too).
 *   store-helper DATA_DIR append ADDRESS N
 *	append N generated messages to ADDRESS's INBOX, one durable
 *	transaction each, printing "appended UID" after each commit.
 *   store-helper DATA_DIR damage ADDRESS UID
 *	damage the stored bytes of message UID of ADDRESS's INBOX.
 *   store-helper DATA_DIR mailboxes ADDRESS < NAMES
 *	create the mailboxes named on standard input (one a line, parents
 *	before their children) for ADDRESS, all in one durable transaction:
 *	the IMAP tests need thousands of them quickly.
 *   store-helper DATA_DIR access IP
 *	print 1 if IP may relay after a POP3 login (POP-before-SMTP), else 0.
 *   store-helper DATA_DIR filter ADDRESS|- < TEXT
 *	store TEXT as the filter file of ADDRESS ("-": the global filter)
 *	with store_filter_set() alone, without the parse check vellumctl
 *	makes: the filter tests need a stored filter that no longer parses
 *	(as one saved before a parser change would be).
 *   store-helper DATA_DIR queue [OPTION...] ADDRESS...
 *	queue one small message from helper@example.test for the ADDRESSes
 *	(store_queue_add, one durable transaction) and print "queued ID"
 *	(16 hex digits): the vellumctl queue tests and the delivery agent's
 *	tests need entries in every state.  Options, before the addresses:
 *	  --sender S        the envelope sender ("" for <>)
 *	  --envid E         ENVID
 *	  --ret full|hdrs   RET
 *	  --notify N        NOTIFY of every recipient (STORE_NOTIFY_* mask)
 *	  --orcpt           ORCPT "rfc822;ADDRESS" for every recipient
 *	  --reply TEXT      last reply of every recipient (its code: TEXT's)
 *	  --hold            the entry is held
 *	  --message FILE    the message (default: a small built-in one)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/access.h"
#include "store/check.h"
#include "store/filter.h"
#include "store/lock.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/queue.h"
#include "store/store.h"
#include "store/user.h"

static int	usage(void);
static int	mailboxes_fn(struct store_txn *, void *);
static int	mailboxes_cmd(struct store *, const char *);
static int	filter_cmd(struct store *, const char *);

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

struct mailboxes {
	const char	*address;
	char		**names;
	size_t		 n;
};

static int
mailboxes_fn(struct store_txn *t, void *ctx)
{
	struct mailboxes *m = ctx;
	struct store_user u;
	size_t i;

	if (store_user_find(t, m->address, &u) != 1)
		return err_set(ERR_NOTFOUND, "no user %s", m->address);
	for (i = 0; i < m->n; i++)
		if (store_mailbox_create(t, u.id, m->names[i], 0, NULL) == -1)
			return -1;
	return 0;
}

static int
mailboxes_cmd(struct store *st, const char *address)
{
	struct mailboxes m = { address, NULL, 0 };
	char line[1024];
	size_t i, len;
	int rc;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		len = strcspn(line, "\r\n");
		line[len] = '\0';
		if (len == 0)
			continue;
		m.names = xreallocarray(m.names, m.n + 1, sizeof(*m.names));
		m.names[m.n++] = xstrdup(line);
	}
	rc = store_write(st, mailboxes_fn, &m);
	if (rc == -1)
		fprintf(stderr, "store-helper: %s\n", err_msg());
	else
		printf("created %zu\n", m.n);
	for (i = 0; i < m.n; i++)
		free(m.names[i]);
	free(m.names);
	store_close(&st);
	return rc == -1;
}

struct filter_raw {
	const char	*address;	/* NULL: the global filter */
	char		*text;
	size_t		 len;
};

static int
filter_fn(struct store_txn *t, void *ctx)
{
	struct filter_raw *f = ctx;
	struct store_user u;
	uint32_t id = 0;

	if (f->address != NULL) {
		if (store_user_find(t, f->address, &u) != 1)
			return err_set(ERR_NOTFOUND, "no user %s", f->address);
		id = u.id;
	}
	return store_filter_set(t, id, f->text, f->len);
}

static int
filter_cmd(struct store *st, const char *address)
{
	struct filter_raw f = { NULL, NULL, 0 };
	char buf[4096];
	size_t n;
	int rc;

	if (strcmp(address, "-") != 0)
		f.address = address;
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
		f.text = xreallocarray(f.text, f.len + n, 1);
		memcpy(f.text + f.len, buf, n);
		f.len += n;
	}
	rc = store_write(st, filter_fn, &f);
	if (rc == -1)
		fprintf(stderr, "store-helper: %s\n", err_msg());
	else
		printf("stored %zu\n", f.len);
	free(f.text);
	store_close(&st);
	return rc == -1;
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

/* Reads a whole file into a malloc'd buffer; NULL on failure. */
static char *
slurp(const char *path, size_t *len_r)
{
	FILE *fp;
	char *buf = NULL;
	size_t cap = 0, n;

	*len_r = 0;
	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	for (;;) {
		if (*len_r == cap) {
			cap = cap * 2 + 65536;
			buf = xreallocarray(buf, cap, 1);
		}
		if ((n = fread(buf + *len_r, 1, cap - *len_r, fp)) == 0)
			break;
		*len_r += n;
	}
	fclose(fp);
	return buf;
}

static int
queue_cmd(struct store *st, int argc, char **argv)
{
	static const char qmsg[] = "From: helper@example.test\n"
	    "Subject: queued by store-helper\n\nfor the queue\n";
	struct store_queue_entry *e;
	struct queue q;
	char id[STORE_QUEUE_ID_LEN + 1], *data = NULL;
	const char *reply = NULL;
	size_t i, len = sizeof(qmsg) - 1;
	int orcpt = 0, notify = 0, a;

	memset(&q, 0, sizeof(q));
	e = &q.e;
	snprintf(e->sender, sizeof(e->sender), "helper@example.test");
	for (a = 0; a < argc && strncmp(argv[a], "--", 2) == 0; a++) {
		if (strcmp(argv[a], "--orcpt") == 0)
			orcpt = 1;
		else if (strcmp(argv[a], "--hold") == 0)
			e->flags |= STORE_QF_HOLD;
		else if (a + 1 >= argc)
			return usage();
		else if (strcmp(argv[a], "--sender") == 0)
			snprintf(e->sender, sizeof(e->sender), "%s",
			    argv[++a]);
		else if (strcmp(argv[a], "--envid") == 0)
			snprintf(e->envid, sizeof(e->envid), "%s", argv[++a]);
		else if (strcmp(argv[a], "--ret") == 0)
			e->ret = strcmp(argv[++a], "full") == 0 ?
			    STORE_RET_FULL : STORE_RET_HDRS;
		else if (strcmp(argv[a], "--notify") == 0)
			notify = atoi(argv[++a]);
		else if (strcmp(argv[a], "--reply") == 0)
			reply = argv[++a];
		else if (strcmp(argv[a], "--message") == 0) {
			if ((data = slurp(argv[++a], &len)) == NULL) {
				perror(argv[a]);
				return 1;
			}
		} else
			return usage();
	}
	if (a >= argc)
		return usage();
	e->nrcpts = (size_t)(argc - a);
	if ((e->rcpts = calloc(e->nrcpts, sizeof(*e->rcpts))) == NULL)
		return 1;
	for (i = 0; i < e->nrcpts; i++) {
		struct store_queue_rcpt *r = &e->rcpts[i];

		snprintf(r->addr, sizeof(r->addr), "%s", argv[a + (int)i]);
		if (orcpt)
			snprintf(r->orcpt, sizeof(r->orcpt), "rfc822;%s",
			    r->addr);
		r->notify = (uint8_t)notify;
		if (reply != NULL) {
			r->last_code = (uint16_t)atoi(reply);
			snprintf(r->last_reply, sizeof(r->last_reply), "%s",
			    reply);
		}
	}
	if (store_msg_prepare(st, data != NULL ? data : qmsg, len,
	    &q.prep) == -1 || store_write(st, queue_fn, &q) == -1) {
		fprintf(stderr, "store-helper: %s\n", err_msg());
		return 1;
	}
	store_prepared_free(&q.prep);
	store_queue_entry_clear(e);
	free(data);
	printf("queued %s\n", store_queue_id_format(q.id, id));
	store_close(&st);
	return 0;
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
	    "hold|exit|share|share-exit\n       store-helper DATA_DIR append ADDRESS N\n"
	    "       store-helper DATA_DIR damage ADDRESS UID\n"
	    "       store-helper DATA_DIR mailboxes ADDRESS < NAMES\n"
	    "       store-helper DATA_DIR access IP\n"
	    "       store-helper DATA_DIR filter ADDRESS|- < TEXT\n"
	    "       store-helper DATA_DIR queue [OPTION...] ADDRESS...\n");
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
		const char *name = argv[3];
		uint64_t ticket = 0;
		int share = strncmp(argv[5], "share", 5) == 0;

		if (share && store_lock_take_queued(st, &name, 1, NULL, 0,
		    (unsigned)atoi(argv[4]), 0, &ticket) != 1) {
			fprintf(stderr, "store-helper: %s\n", err_msg());
			return 1;
		}
		if (!share && store_lock_take(st, name,
		    (unsigned)atoi(argv[4])) == -1) {
			fprintf(stderr, "store-helper: %s\n", err_msg());
			return 1;
		}
		printf("locked\n");
		fflush(stdout);
		if (strcmp(argv[5], "hold") == 0 ||
		    strcmp(argv[5], "share") == 0)
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
	if (strcmp(argv[2], "queue") == 0)
		return queue_cmd(st, argc - 3, argv + 3);
	if (strcmp(argv[2], "mailboxes") == 0 && argc == 4)
		return mailboxes_cmd(st, argv[3]);
	if (strcmp(argv[2], "filter") == 0 && argc == 4)
		return filter_cmd(st, argv[3]);
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
