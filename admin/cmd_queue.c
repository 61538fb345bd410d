/*
 * cmd_queue.c - vellumctl queue list|show|flush|del|hold|release
 *
 * The queue holds mail for external recipients until vellum-mta has
 * delivered it.  Every change here is one transaction that moves the
 * queue generation, so vellum-mta sees it at once (a flushed entry goes
 * out within a second or two).  Commands naming IDs change all of them or
 * none: a missing ID fails the whole command.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/size.h"
#include "common/xmalloc.h"
#include "store/domain.h"
#include "store/message.h"
#include "store/queue.h"

#include "ctl.h"

/* Missing IDs named in an error; the rest counted. */
#define QUEUE_IDS_NAMED		20
/* queue show prints at most this much of a message's header block. */
#define QUEUE_SHOW_HEADERS_MAX	(256 * 1024)

enum queue_op { QOP_DEL, QOP_HOLD, QOP_RELEASE, QOP_FLUSH };

/* Entries copied out of the transaction, recipients included. */
struct queue_args {
	struct store_queue_entry *list;
	size_t			 n;
	/* the IDs named, or (all, domain) the entries chosen */
	uint64_t		*ids;
	size_t			 nids;
	int			 all;
	char			 domain[STORE_DOMAIN_MAX + 1];
	uint64_t		*sel;
	size_t			 nsel;
	enum queue_op		 op;
	size_t			 changed, held;
	/* queue show */
	void			*data;
	size_t			 len;
};

static void	cmd_queue_copy(struct queue_args *,
		    const struct store_queue_entry *);
static int	cmd_queue_list_one(const struct store_queue_entry *, void *);
static int	cmd_queue_list_txn(struct store_txn *, void *);
static void	cmd_queue_free(struct queue_args *);
static void	cmd_queue_clean(FILE *, const char *s, size_t n);
static void	cmd_queue_json(const struct store_queue_entry *);
static void	cmd_queue_notify(char *buf, size_t size, uint8_t notify);
static int	cmd_queue_list(struct ctl *);
static int	cmd_queue_show_txn(struct store_txn *, void *);
static int	cmd_queue_show(struct ctl *, const char *id);
static int	cmd_queue_select(const struct store_queue_entry *, void *);
static int	cmd_queue_apply(struct store_txn *, struct queue_args *,
		    uint64_t id);
static int	cmd_queue_op_txn(struct store_txn *, void *);
static int	cmd_queue_ids(struct ctl *, int argc, char **argv,
		    struct queue_args *);
static int	cmd_queue_op(struct ctl *, struct queue_args *);
static int	cmd_queue_flush(struct ctl *, int argc, char **argv);

static const char *const queue_flag_names[] = {
	"hold", "8bitmime", "smtputf8", "notice", "warned",
};

static void
cmd_queue_copy(struct queue_args *a, const struct store_queue_entry *e)
{
	struct store_queue_entry *c;

	a->list = xreallocarray(a->list, a->n + 1, sizeof(*a->list));
	c = &a->list[a->n++];
	*c = *e;
	c->rcpts = xreallocarray(NULL, e->nrcpts, sizeof(*c->rcpts));
	memcpy(c->rcpts, e->rcpts, e->nrcpts * sizeof(*c->rcpts));
}

static int
cmd_queue_list_one(const struct store_queue_entry *e, void *arg)
{
	cmd_queue_copy(arg, e);
	return 0;
}

static void
cmd_queue_free(struct queue_args *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		store_queue_entry_clear(&a->list[i]);
	free(a->list);
	a->list = NULL;
	a->n = 0;
	free(a->data);
	a->data = NULL;
	a->len = 0;
}

static int
cmd_queue_list_txn(struct store_txn *txn, void *arg)
{
	cmd_queue_free(arg);
	return store_queue_list(txn, cmd_queue_list_one, arg);
}

/* Text from a remote or a message: control characters shown as '?'. */
static void
cmd_queue_clean(FILE *fp, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		fputc(c < 0x20 && c != '\t' ? '?' : c == 0x7f ? '?' : c, fp);
	}
}

static void
cmd_queue_notify(char *buf, size_t size, uint8_t notify)
{
	static const char *const names[] = {
		"never", "success", "failure", "delay",
	};
	size_t off = 0, i;

	buf[0] = '\0';
	for (i = 0; i < 4; i++)
		if (notify & (1u << i))
			off += (size_t)snprintf(buf + off, size - off, "%s%s",
			    off > 0 ? "," : "", names[i]);
}

/* The JSON object of an entry, left open for more members. */
static void
cmd_queue_json(const struct store_queue_entry *e)
{
	const struct store_queue_rcpt *r;
	char t[32], id[STORE_QUEUE_ID_LEN + 1], nb[64], *p, *q;
	size_t i, k;

	printf("{\"id\": \"%s\", \"sender\": ",
	    store_queue_id_format(e->id, id));
	ctl_json_str(stdout, e->sender);
	printf(", \"envid\": ");
	if (e->envid[0] != '\0')
		ctl_json_str(stdout, e->envid);
	else
		printf("null");
	printf(", \"ret\": %s, \"flags\": [", e->ret == STORE_RET_FULL ?
	    "\"full\"" : e->ret == STORE_RET_HDRS ? "\"hdrs\"" : "null");
	for (i = 0, k = 0; i < sizeof(queue_flag_names) /
	    sizeof(queue_flag_names[0]); i++)
		if (e->flags & (1u << i))
			printf("%s\"%s\"", k++ > 0 ? ", " : "",
			    queue_flag_names[i]);
	printf("], \"hold\": %s, \"size\": %" PRIu64 ", \"queued\": ",
	    e->flags & STORE_QF_HOLD ? "true" : "false", e->size);
	ctl_json_str(stdout, ctl_time(e->queued, t));
	printf(", \"attempts\": %" PRIu32 ", \"next_try\": ", e->attempts);
	if (e->next_try != 0)
		ctl_json_str(stdout, ctl_time(e->next_try, t));
	else
		printf("null");
	printf(", \"recipients\": [");
	for (i = 0; i < e->nrcpts; i++) {
		r = &e->rcpts[i];
		printf("%s{\"address\": ", i > 0 ? ", " : "");
		ctl_json_str(stdout, r->addr);
		printf(", \"orcpt\": ");
		if (r->orcpt[0] != '\0')
			ctl_json_str(stdout, r->orcpt);
		else
			printf("null");
		printf(", \"notify\": ");
		if (r->notify != 0) {
			cmd_queue_notify(nb, sizeof(nb), r->notify);
			printf("[");
			for (p = nb, k = 0; p != NULL; p = q, k++) {
				if ((q = strchr(p, ',')) != NULL)
					*q++ = '\0';
				printf("%s\"%s\"", k > 0 ? ", " : "", p);
			}
			printf("]");
		} else
			printf("null");
		if (r->last_code != 0)
			printf(", \"last_code\": %u, \"last_reply\": ",
			    (unsigned)r->last_code);
		else
			printf(", \"last_code\": null, \"last_reply\": ");
		if (r->last_reply[0] != '\0')
			ctl_json_str(stdout, r->last_reply);
		else
			printf("null");
		printf("}");
	}
	printf("]");
}

static int
cmd_queue_list(struct ctl *ctl)
{
	struct queue_args a;
	const struct store_queue_entry *e;
	const struct store_queue_rcpt *r;
	char t1[32], t2[32], sz[SIZE_FORMAT_MAX];
	char id[STORE_QUEUE_ID_LEN + 1];
	uint64_t bytes = 0;
	size_t i, j, nrcpts = 0;

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
			printf("%s\n  ", i > 0 ? "," : "");
			cmd_queue_json(&a.list[i]);
			printf("}");
		}
		printf("%s]\n", a.n > 0 ? "\n" : "");
		cmd_queue_free(&a);
		return CTL_OK;
	}
	if (a.n == 0) {
		printf("the queue is empty\n");
		cmd_queue_free(&a);
		return CTL_OK;
	}
	printf("%-16s  %-20s  %8s  %5s  %-20s  %s\n", "ID", "QUEUED", "SIZE",
	    "TRIES", "NEXT TRY", "SENDER");
	for (i = 0; i < a.n; i++) {
		e = &a.list[i];
		printf("%s  %-20s  %8s  %5" PRIu32 "  %-20s  <%s>\n",
		    store_queue_id_format(e->id, id), ctl_time(e->queued, t1),
		    size_format(e->size, sz, sizeof(sz)), e->attempts,
		    e->flags & STORE_QF_HOLD ? "HOLD" : e->next_try == 0 ?
		    "now" : ctl_time(e->next_try, t2), e->sender);
		for (j = 0; j < e->nrcpts; j++) {
			r = &e->rcpts[j];
			printf("    -> %s", r->addr);
			if (r->last_reply[0] != '\0') {
				printf("  (");
				cmd_queue_clean(stdout, r->last_reply,
				    strlen(r->last_reply));
				printf(")");
			}
			printf("\n");
		}
		nrcpts += e->nrcpts;
		bytes += e->size;
	}
	printf("-- %zu entr%s, %zu recipient%s, %s\n", a.n, a.n == 1 ? "y" :
	    "ies", nrcpts, nrcpts == 1 ? "" : "s",
	    size_format(bytes, sz, sizeof(sz)));
	cmd_queue_free(&a);
	return CTL_OK;
}

static int
cmd_queue_show_txn(struct store_txn *txn, void *arg)
{
	struct queue_args *a = arg;
	struct store_queue_entry e;
	int rc;

	cmd_queue_free(a);
	if ((rc = store_queue_get(txn, a->ids[0], &e)) != 1)
		return rc;
	cmd_queue_copy(a, &e);
	store_queue_entry_clear(&e);
	if (store_body_read(txn, a->list[0].body, &a->data, &a->len) == -1)
		return -1;
	return 1;
}

static int
cmd_queue_show(struct ctl *ctl, const char *arg)
{
	struct queue_args a;
	const struct store_queue_entry *e;
	const struct store_queue_rcpt *r;
	char t[32], id[STORE_QUEUE_ID_LEN + 1], sz[SIZE_FORMAT_MAX], nb[64];
	const char *p, *end, *nl;
	size_t i, hlen;
	uint64_t qid;
	int rc;

	if (store_queue_id_parse(arg, &qid) == -1)
		return ctl_usage(ctl, "%s ('vellumctl queue list' shows the "
		    "IDs)", err_msg());
	memset(&a, 0, sizeof(a));
	a.ids = &qid;
	a.nids = 1;
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	rc = store_read(ctl->store, cmd_queue_show_txn, &a);
	if (rc < 0) {
		cmd_queue_free(&a);
		return ctl_fail(NULL, "queue show %s", store_queue_id_format(qid,
		    id));
	}
	if (rc == 0)
		return ctl_failx("queue show: no queue entry %s ('vellumctl "
		    "queue list' shows the queue)", store_queue_id_format(qid,
		    id));
	e = &a.list[0];
	/* the header block: up to the first empty line */
	p = a.data;
	end = p + a.len;
	for (nl = p; nl < end; nl++) {
		if (*nl != '\n')
			continue;
		if (nl + 1 < end && (nl[1] == '\n' || (nl[1] == '\r' &&
		    nl + 2 < end && nl[2] == '\n')))
			break;
	}
	hlen = nl < end ? (size_t)(nl - p) + 1 : a.len;
	if (hlen > QUEUE_SHOW_HEADERS_MAX)
		hlen = QUEUE_SHOW_HEADERS_MAX;
	if (ctl->json) {
		cmd_queue_json(e);
		printf(", \"headers\": ");
		ctl_json_strn(stdout, a.data, hlen);
		printf("}\n");
		cmd_queue_free(&a);
		return CTL_OK;
	}
	printf("id:         %s\n", store_queue_id_format(e->id, id));
	printf("sender:     <%s>\n", e->sender);
	printf("queued:     %s\n", ctl_time(e->queued, t));
	printf("size:       %s\n", size_format(e->size, sz, sizeof(sz)));
	printf("attempts:   %" PRIu32 "\n", e->attempts);
	printf("next try:   %s\n", e->flags & STORE_QF_HOLD ? "held" :
	    e->next_try == 0 ? "now" : ctl_time(e->next_try, t));
	printf("flags:     ");
	for (i = 0; i < sizeof(queue_flag_names) / sizeof(queue_flag_names[0]);
	    i++)
		if (e->flags & (1u << i))
			printf(" %s", queue_flag_names[i]);
	printf("%s\n", e->flags == 0 ? " -" : "");
	if (e->envid[0] != '\0')
		printf("envid:      %s\n", e->envid);
	if (e->ret != STORE_RET_NONE)
		printf("ret:        %s\n", e->ret == STORE_RET_FULL ? "full" :
		    "hdrs");
	for (i = 0; i < e->nrcpts; i++) {
		r = &e->rcpts[i];
		printf("recipient:  %s\n", r->addr);
		if (r->orcpt[0] != '\0')
			printf("  orcpt:    %s\n", r->orcpt);
		if (r->notify != 0) {
			cmd_queue_notify(nb, sizeof(nb), r->notify);
			printf("  notify:   %s\n", nb);
		}
		if (r->last_reply[0] != '\0') {
			printf("  last:     ");
			cmd_queue_clean(stdout, r->last_reply,
			    strlen(r->last_reply));
			printf("\n");
		}
	}
	printf("\n");
	for (p = a.data; p < (const char *)a.data + hlen; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)((const char *)a.data +
		    hlen - p))) == NULL)
			nl = (const char *)a.data + hlen;
		i = (size_t)(nl - p);
		if (i > 0 && p[i - 1] == '\r')
			i--;
		cmd_queue_clean(stdout, p, i);
		printf("\n");
	}
	cmd_queue_free(&a);
	return CTL_OK;
}

/* The entries --all or DOMAIN chooses. */
static int
cmd_queue_select(const struct store_queue_entry *e, void *arg)
{
	struct queue_args *a = arg;
	const char *at;
	size_t i;

	if (!a->all) {
		for (i = 0; i < e->nrcpts; i++)
			if ((at = strrchr(e->rcpts[i].addr, '@')) != NULL &&
			    strcasecmp(at + 1, a->domain) == 0)
				break;
		if (i == e->nrcpts)
			return 0;
	}
	a->sel = xreallocarray(a->sel, a->nsel + 1, sizeof(*a->sel));
	a->sel[a->nsel++] = e->id;
	return 0;
}

/* 1 done, 0 no such entry. */
static int
cmd_queue_apply(struct store_txn *txn, struct queue_args *a, uint64_t id)
{
	struct store_queue_entry e;
	uint32_t was;
	int rc;

	if (a->op == QOP_DEL) {
		if ((rc = store_queue_del(txn, id)) == 1)
			a->changed++;
		return rc;
	}
	if ((rc = store_queue_get(txn, id, &e)) != 1)
		return rc;
	was = e.flags;
	if (a->op == QOP_HOLD)
		e.flags |= STORE_QF_HOLD;
	else if (a->op == QOP_RELEASE)
		e.flags &= ~(uint32_t)STORE_QF_HOLD;
	else {
		if (e.flags & STORE_QF_HOLD)
			a->held++;
		e.next_try = 0;
	}
	if (a->op == QOP_FLUSH || e.flags != was) {
		rc = store_queue_put(txn, &e);
		a->changed++;
	}
	store_queue_entry_clear(&e);
	return rc == -1 ? -1 : 1;
}

/* Checks every ID while changing them: all or none. */
static int
cmd_queue_op_txn(struct store_txn *txn, void *arg)
{
	struct queue_args *a = arg;
	char named[QUEUE_IDS_NAMED * (STORE_QUEUE_ID_LEN + 2) + 1];
	char id[STORE_QUEUE_ID_LEN + 1];
	const uint64_t *ids = a->ids;
	size_t i, n = a->nids, off = 0, nmissing = 0;
	int rc;

	a->changed = a->held = 0;
	if (a->all || a->domain[0] != '\0') {
		a->nsel = 0;
		if (store_queue_list(txn, cmd_queue_select, a) == -1)
			return -1;
		ids = a->sel;
		n = a->nsel;
	}
	named[0] = '\0';
	for (i = 0; i < n; i++) {
		if ((rc = cmd_queue_apply(txn, a, ids[i])) == -1)
			return -1;
		if (rc == 1)
			continue;
		if (nmissing++ < QUEUE_IDS_NAMED)
			off += (size_t)snprintf(named + off, sizeof(named) -
			    off, "%s%s", off > 0 ? ", " : "",
			    store_queue_id_format(ids[i], id));
	}
	if (nmissing > QUEUE_IDS_NAMED)
		return err_set(ERR_NOTFOUND, "no queue entries %s and %zu "
		    "more; nothing changed", named,
		    nmissing - QUEUE_IDS_NAMED);
	if (nmissing > 0)
		return err_set(ERR_NOTFOUND, "no queue entr%s %s; nothing "
		    "changed", nmissing > 1 ? "ies" : "y", named);
	return 1;
}

/* ID... or --all into a; CTL_OK or CTL_USAGE. */
static int
cmd_queue_ids(struct ctl *ctl, int argc, char **argv, struct queue_args *a)
{
	struct ctl_opt opts[] = { { "all", 0, NULL, 0 }, { NULL, 0, NULL, 0 } };
	size_t i, j;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, opts, 0, -1, &n)) != CTL_OK)
		return rc;
	a->all = ctl_opt(opts, "all")->seen;
	if (a->all && n > 0)
		return ctl_usage(ctl, "give IDs or --all, not both");
	if (!a->all && n == 0)
		return ctl_usage(ctl, "which entries? (IDs or --all)");
	a->ids = xreallocarray(NULL, (size_t)n + 1, sizeof(*a->ids));
	for (i = 0; i < (size_t)n; i++) {
		if (store_queue_id_parse(argv[i], &a->ids[i]) == -1) {
			free(a->ids);
			a->ids = NULL;
			return ctl_usage(ctl, "'%s' is not a queue ID "
			    "('vellumctl queue list' shows them)", argv[i]);
		}
	}
	/* The same ID twice would look missing the second time. */
	for (i = 0, a->nids = 0; i < (size_t)n; i++) {
		for (j = 0; j < a->nids && a->ids[j] != a->ids[i]; j++)
			;
		if (j == a->nids)
			a->ids[a->nids++] = a->ids[i];
	}
	return CTL_OK;
}

static int
cmd_queue_op(struct ctl *ctl, struct queue_args *a)
{
	static const char *const done[] = {
		[QOP_DEL] = "removed", [QOP_HOLD] = "held",
		[QOP_RELEASE] = "released", [QOP_FLUSH] = "due now",
	};
	char in[300] = "", held[100] = "";
	int rc;

	if (ctl_open(ctl, STORE_NOCREATE) < 0) {
		rc = CTL_FAIL;
		goto out;
	}
	if (store_write(ctl->store, cmd_queue_op_txn, a) < 0) {
		rc = ctl_fail(err_class() == ERR_NOTFOUND ? "'vellumctl queue "
		    "list' shows the queue" : NULL, "queue %s", ctl->verb);
		goto out;
	}
	if (a->op == QOP_FLUSH && a->domain[0] != '\0')
		snprintf(in, sizeof(in), " (a recipient in %s)", a->domain);
	if (a->held > 0)
		snprintf(held, sizeof(held), "; %zu held: 'vellumctl queue "
		    "release' lets %s go", a->held, a->held == 1 ? "it" :
		    "them");
	ctl_done(ctl, "queue %s: %zu entr%s %s%s%s", ctl->verb, a->changed,
	    a->changed == 1 ? "y" : "ies", done[a->op], in, held);
	rc = CTL_OK;
out:
	free(a->ids);
	free(a->sel);
	return rc;
}

/*
 * flush [ID|DOMAIN]: an argument without a dot that reads as an ID is
 * one; anything else is a recipient domain.
 */
static int
cmd_queue_flush(struct ctl *ctl, int argc, char **argv)
{
	struct queue_args a;
	uint64_t id;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 1, &n)) != CTL_OK)
		return rc;
	memset(&a, 0, sizeof(a));
	a.op = QOP_FLUSH;
	if (n == 0)
		a.all = 1;
	else if (strchr(argv[0], '.') == NULL &&
	    store_queue_id_parse(argv[0], &id) == 0) {
		a.ids = xmalloc(sizeof(*a.ids));
		a.ids[0] = id;
		a.nids = 1;
	} else if (store_domain_normalize(argv[0], a.domain) == -1)
		return ctl_usage(ctl, "'%s' is neither a queue ID nor a domain",
		    argv[0]);
	return cmd_queue_op(ctl, &a);
}

int
cmd_queue(struct ctl *ctl, int argc, char **argv)
{
	struct queue_args a;
	int n, rc;

	memset(&a, 0, sizeof(a));
	if (strcmp(ctl->verb, "list") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 0, &n)) != 0)
			return rc;
		return cmd_queue_list(ctl);
	}
	if (strcmp(ctl->verb, "show") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
			return rc;
		return cmd_queue_show(ctl, argv[0]);
	}
	if (strcmp(ctl->verb, "flush") == 0)
		return cmd_queue_flush(ctl, argc, argv);
	if (strcmp(ctl->verb, "del") == 0)
		a.op = QOP_DEL;
	else if (strcmp(ctl->verb, "hold") == 0)
		a.op = QOP_HOLD;
	else if (strcmp(ctl->verb, "release") == 0)
		a.op = QOP_RELEASE;
	else
		return ctl_usage(ctl, "unknown command 'queue %s'", ctl->verb);
	if ((rc = cmd_queue_ids(ctl, argc, argv, &a)) != CTL_OK)
		return rc;
	return cmd_queue_op(ctl, &a);
}
