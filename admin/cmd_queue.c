/*
 * cmd_queue.c - vellumctl queue list|del
 *
 * The queue holds mail for external recipients until it is delivered
 * (a later issue).  "queue del" removes entries without sending them:
 * all the given IDs in one transaction, or none when one is missing.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/size.h"
#include "common/xmalloc.h"
#include "store/queue.h"

#include "ctl.h"

/* Missing IDs named in the error of "queue del"; the rest counted. */
#define QUEUE_DEL_NAMED		20

/* Entries copied out of the transaction, recipients included. */
struct queue_args {
	struct store_queue_entry *list;
	size_t			 n;
	uint64_t		*ids;
	size_t			 nids;
};

static int	cmd_queue_list_one(const struct store_queue_entry *, void *);
static int	cmd_queue_list_txn(struct store_txn *, void *);
static int	cmd_queue_del_txn(struct store_txn *, void *);
static void	cmd_queue_free(struct queue_args *);
static int	cmd_queue_list(struct ctl *);
static int	cmd_queue_del(struct ctl *, int argc, char **argv);

static int
cmd_queue_list_one(const struct store_queue_entry *e, void *arg)
{
	struct queue_args *a = arg;
	struct store_queue_entry *c;

	a->list = xreallocarray(a->list, a->n + 1, sizeof(*a->list));
	c = &a->list[a->n++];
	*c = *e;
	c->rcpts = NULL;
	if (e->nrcpts > 0) {
		c->rcpts = xreallocarray(NULL, e->nrcpts, sizeof(*c->rcpts));
		memcpy(c->rcpts, e->rcpts, e->nrcpts * sizeof(*c->rcpts));
	}
	return 0;
}

static void
cmd_queue_free(struct queue_args *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->list[i].rcpts);
	free(a->list);
	a->list = NULL;
	a->n = 0;
}

static int
cmd_queue_list_txn(struct store_txn *txn, void *arg)
{
	cmd_queue_free(arg);
	return store_queue_list(txn, cmd_queue_list_one, arg);
}

static int
cmd_queue_list(struct ctl *ctl)
{
	struct queue_args a;
	const struct store_queue_entry *e;
	char t1[32], t2[32], sz[SIZE_FORMAT_MAX];
	char id[STORE_QUEUE_ID_LEN + 1];
	size_t i, j;

	memset(&a, 0, sizeof(a));
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_read(ctl->store, cmd_queue_list_txn, &a) < 0) {
		cmd_queue_free(&a);
		return ctl_fail(NULL, "queue list");
	}
	if (ctl->json) {
		printf("[");
		for (i = 0; i < a.n; i++) {
			e = &a.list[i];
			printf("%s\n  {\"id\": \"%s\", \"sender\": ",
			    i > 0 ? "," : "", store_queue_id_format(e->id, id));
			ctl_json_str(stdout, e->sender);
			printf(", \"recipients\": [");
			for (j = 0; j < e->nrcpts; j++) {
				printf("%s", j > 0 ? ", " : "");
				ctl_json_str(stdout, e->rcpts[j].addr);
			}
			printf("], \"size\": %" PRIu64 ", \"queued\": ",
			    e->size);
			ctl_json_str(stdout, ctl_time(e->queued, t1));
			printf(", \"attempts\": %" PRIu32 ", \"next_try\": ",
			    e->attempts);
			if (e->next_try != 0)
				ctl_json_str(stdout, ctl_time(e->next_try, t2));
			else
				printf("null");
			printf("}");
		}
		printf("%s]\n", a.n > 0 ? "\n" : "");
		cmd_queue_free(&a);
		return CTL_OK;
	}
	if (a.n == 0)
		printf("the queue is empty\n");
	else
		printf("%-16s %-20s %8s %4s %-20s %s\n", "ID", "QUEUED", "SIZE",
		    "TRY", "NEXT TRY", "SENDER -> RECIPIENTS");
	for (i = 0; i < a.n; i++) {
		e = &a.list[i];
		printf("%s %-20s %8s %4" PRIu32 " %-20s <%s> ->",
		    store_queue_id_format(e->id, id), ctl_time(e->queued, t1), size_format(e->size, sz,
		    sizeof(sz)), e->attempts, ctl_time(e->next_try, t2),
		    e->sender);
		for (j = 0; j < e->nrcpts; j++)
			printf("%s %s", j > 0 ? "," : "",
			    e->rcpts[j].addr);
		printf("\n");
	}
	cmd_queue_free(&a);
	return CTL_OK;
}

/* Checks every ID, then removes them: all or none. */
static int
cmd_queue_del_txn(struct store_txn *txn, void *arg)
{
	struct queue_args *a = arg;
	char named[QUEUE_DEL_NAMED * (STORE_QUEUE_ID_LEN + 2) + 1];
	char id[STORE_QUEUE_ID_LEN + 1];
	size_t i, off = 0, nmissing = 0;
	int rc;

	named[0] = '\0';
	for (i = 0; i < a->nids; i++) {
		if ((rc = store_queue_del(txn, a->ids[i])) == -1)
			return -1;
		if (rc == 1)
			continue;
		if (nmissing++ < QUEUE_DEL_NAMED)
			off += (size_t)snprintf(named + off, sizeof(named) -
			    off, "%s%s", off > 0 ? ", " : "",
			    store_queue_id_format(a->ids[i], id));
	}
	if (nmissing > QUEUE_DEL_NAMED)
		return err_set(ERR_NOTFOUND, "no queue entries %s and %zu "
		    "more; nothing removed", named,
		    nmissing - QUEUE_DEL_NAMED);
	if (nmissing > 0)
		return err_set(ERR_NOTFOUND, "no queue entr%s %s; nothing "
		    "removed", nmissing > 1 ? "ies" : "y", named);
	return 1;
}

static int
cmd_queue_del(struct ctl *ctl, int argc, char **argv)
{
	struct queue_args a;
	size_t i, j;
	int rc;

	memset(&a, 0, sizeof(a));
	a.ids = xreallocarray(NULL, (size_t)argc, sizeof(*a.ids));
	for (i = 0; i < (size_t)argc; i++) {
		if (store_queue_id_parse(argv[i], &a.ids[i]) == -1) {
			free(a.ids);
			return ctl_usage(ctl, "'%s' is not a queue ID ('vellumctl "
			    "queue list' shows them)", argv[i]);
		}
	}
	/* The same ID twice would look missing the second time. */
	for (i = 0, a.nids = 0; i < (size_t)argc; i++) {
		for (j = 0; j < a.nids && a.ids[j] != a.ids[i]; j++)
			;
		if (j == a.nids)
			a.ids[a.nids++] = a.ids[i];
	}
	if (ctl_open(ctl, STORE_NOCREATE) < 0) {
		free(a.ids);
		return CTL_FAIL;
	}
	rc = store_write(ctl->store, cmd_queue_del_txn, &a);
	free(a.ids);
	if (rc < 0)
		return ctl_fail(err_class() == ERR_NOTFOUND ? "'vellumctl queue "
		    "list' shows the queue" : NULL, "queue del");
	printf("queue del: %zu entr%s removed\n", a.nids, a.nids == 1 ? "y" :
	    "ies");
	return CTL_OK;
}

int
cmd_queue(struct ctl *ctl, int argc, char **argv)
{
	int n, rc;

	if (strcmp(ctl->verb, "list") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 0, &n)) != 0)
			return rc;
		return cmd_queue_list(ctl);
	}
	if (strcmp(ctl->verb, "del") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, -1, &n)) != 0)
			return rc;
		return cmd_queue_del(ctl, n, argv);
	}
	return ctl_usage(ctl, "unknown command 'queue %s'", ctl->verb);
}
