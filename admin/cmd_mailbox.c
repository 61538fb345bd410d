/*
 * cmd_mailbox.c - vellumctl mailbox list, and mail expunge (the "mail"
 * noun's dispatch in cmd_mail.c calls cmd_mail_expunge()).
 *
 * mailbox list ADDRESS: each folder with its message count, unseen count
 * and size, from the counters the store keeps per mailbox (no message is
 * read).
 *
 * mail expunge ADDRESS --folder F --before DATE [--dry-run]: like
 * doveadm's "expunge mailbox F savedbefore DATE": messages whose internal
 * date (when the store received them) is before DATE go, through
 * store_msg_expunge(), as an IMAP EXPUNGE does: usage shrinks in the same
 * transaction, the mailbox's modseq moves and sessions that have it
 * selected are told.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/size.h"
#include "common/xmalloc.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/user.h"

#include "ctl.h"

/* Messages expunged per write transaction: keeps each commit short. */
#define MAILBOX_EXPUNGE_BATCH	1000

struct mailbox_list {
	const char		*address;
	struct store_user	 user;
	struct store_mailbox	*boxes;
	size_t			 n;
};

struct mailbox_expunge {
	const char		*address, *folder;
	int64_t			 before;
	int			 dry_run;
	struct store_user	 user;
	char			 box[STORE_MAILBOX_NAME_MAX + 1];
	uint32_t		*uids;		/* the batch being expunged */
	size_t			 nuids;
	uint32_t		 start_uid;	/* where this batch starts */
	uint32_t		 next_uid;	/* where the scan goes on */
	size_t			 matched;	/* what this batch found */
	uint64_t		 bytes;
	size_t			 total;		/* what every batch found */
	uint64_t		 total_bytes;
	size_t			 expunged;
	int			 more;
	enum { ME_USER = 1, ME_FOLDER } why;
};

static int	mailbox_list_one(const struct store_mailbox *, void *);
static int	mailbox_list_txn(struct store_txn *, void *);
static int	mailbox_list_cmd(struct ctl *, const char *address);
static int	mailbox_date_parse(const char *s, int64_t now, int64_t *r);
static int	mailbox_expunge_one(const struct store_msg *, void *);
static int	mailbox_expunge_scan(struct store_txn *,
		    struct mailbox_expunge *, struct store_mailbox *);
static int	mailbox_expunge_txn(struct store_txn *, void *);
static int	mailbox_expunge_count_txn(struct store_txn *, void *);

static int
mailbox_list_one(const struct store_mailbox *mb, void *arg)
{
	struct mailbox_list *l = arg;

	l->boxes = xreallocarray(l->boxes, l->n + 1, sizeof(*l->boxes));
	l->boxes[l->n++] = *mb;
	return 0;
}

static int
mailbox_list_txn(struct store_txn *txn, void *arg)
{
	struct mailbox_list *l = arg;
	int rc;

	free(l->boxes);
	l->boxes = NULL;
	l->n = 0;
	if ((rc = store_user_find(txn, l->address, &l->user)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no user %s",
		    l->address);
	return store_mailbox_list(txn, l->user.id, mailbox_list_one, l);
}

static int
mailbox_list_cmd(struct ctl *ctl, const char *address)
{
	struct mailbox_list l;
	char b[SIZE_FORMAT_MAX];
	uint64_t msgs = 0, unseen = 0, bytes = 0;
	size_t i;

	memset(&l, 0, sizeof(l));
	l.address = address;
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_read(ctl->store, mailbox_list_txn, &l) < 0) {
		free(l.boxes);
		return ctl_fail(err_class() == ERR_NOTFOUND ? "'vellumctl user "
		    "list' shows the users" : NULL, "mailbox list %s",
		    address);
	}
	if (ctl->json)
		printf("[");
	else
		printf("%-30s %8s %8s %10s\n", "FOLDER", "MESSAGES", "UNSEEN",
		    "SIZE");
	for (i = 0; i < l.n; i++) {
		const struct store_mailbox *mb = &l.boxes[i];

		msgs += mb->messages;
		unseen += mb->unseen;
		bytes += mb->bytes;
		if (ctl->json) {
			printf("%s\n  {\"folder\": ", i > 0 ? "," : "");
			ctl_json_str(stdout, mb->name);
			printf(", \"messages\": %" PRIu32 ", \"unseen\": %"
			    PRIu32 ", \"bytes\": %" PRIu64 ", \"uidvalidity\": %"
			    PRIu32 ", \"uidnext\": %" PRIu32 ", \"subscribed\": "
			    "%s}", mb->messages, mb->unseen, mb->bytes,
			    mb->uidvalidity, mb->uidnext, mb->subscribed ?
			    "true" : "false");
			continue;
		}
		printf("%-30s %8" PRIu32 " %8" PRIu32 " %10s\n", mb->name,
		    mb->messages, mb->unseen,
		    size_format(mb->bytes, b, sizeof(b)));
	}
	if (ctl->json)
		printf("%s]\n", l.n > 0 ? "\n" : "");
	else
		printf("%-30s %8" PRIu64 " %8" PRIu64 " %10s\n", "(total)",
		    msgs, unseen, size_format(bytes, b, sizeof(b)));
	free(l.boxes);
	return CTL_OK;
}

int
cmd_mailbox(struct ctl *ctl, int argc, char **argv)
{
	int n, rc;

	if (strcmp(ctl->verb, "list") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
			return rc;
		return mailbox_list_cmd(ctl, argv[0]);
	}
	return ctl_usage(ctl, "unknown command 'mailbox %s'", ctl->verb);
}

/*
 * DATE: YYYY-MM-DD (local midnight, as doveadm reads it) or a duration
 * back from now: N followed by d (days), w (weeks) or h (hours).  0 done,
 * -1 not a date.
 */
static int
mailbox_date_parse(const char *s, int64_t now, int64_t *r)
{
	struct tm tm;
	unsigned long long v;
	char *end;
	time_t t;
	int y, mo, d, nch = 0;

	if (isdigit((unsigned char)s[0]) && strlen(s) == 10 &&
	    sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &nch) == 3 && nch == 10) {
		if (mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1970)
			return -1;
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_isdst = -1;
		if ((t = mktime(&tm)) == (time_t)-1 || tm.tm_mday != d)
			return -1;
		*r = (int64_t)t;
		return 0;
	}
	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end[0] == '\0' || end[1] != '\0' || v > 100000)
		return -1;
	switch (end[0]) {
	case 'h':
		v *= 3600;
		break;
	case 'd':
		v *= 86400;
		break;
	case 'w':
		v *= 7 * 86400;
		break;
	default:
		return -1;
	}
	*r = now - (int64_t)v;
	return 0;
}

static int
mailbox_expunge_one(const struct store_msg *m, void *arg)
{
	struct mailbox_expunge *e = arg;

	e->next_uid = m->uid + 1;
	if (m->internal_date >= e->before)
		return 0;
	e->matched++;
	e->bytes += m->size;
	if (e->dry_run)
		return 0;
	e->uids[e->nuids++] = m->uid;
	if (e->nuids >= MAILBOX_EXPUNGE_BATCH) {
		e->more = 1;
		return -1;	/* stop: this batch is full */
	}
	return 0;
}

static int
mailbox_expunge_scan(struct store_txn *txn, struct mailbox_expunge *e,
    struct store_mailbox *mb)
{
	int rc;

	if ((rc = store_user_find(txn, e->address, &e->user)) != 1) {
		e->why = ME_USER;
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no user %s",
		    e->address);
	}
	if ((rc = store_mailbox_get(txn, e->user.id, e->folder, mb)) != 1) {
		e->why = ME_FOLDER;
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "%s has no "
		    "folder '%s' ('vellumctl mailbox list %s' shows them)",
		    e->user.address, e->folder, e->user.address);
	}
	snprintf(e->box, sizeof(e->box), "%s", mb->name);
	/* A transaction may be run again: each run starts afresh. */
	e->next_uid = e->start_uid;
	e->matched = 0;
	e->bytes = 0;
	e->more = 0;
	e->nuids = 0;
	if (store_msg_list(txn, mb->id, e->next_uid, mailbox_expunge_one,
	    e) == -1 && !e->more)
		return -1;
	return 1;
}

/* One batch: the scan and its expunges in the same transaction. */
static int
mailbox_expunge_txn(struct store_txn *txn, void *arg)
{
	struct mailbox_expunge *e = arg;
	struct store_mailbox mb;
	size_t i;

	if (mailbox_expunge_scan(txn, e, &mb) == -1)
		return -1;
	for (i = 0; i < e->nuids; i++)
		if (store_msg_expunge(txn, mb.id, e->uids[i]) == -1)
			return -1;
	if (store_user_get(txn, e->user.id, &e->user) != 1)
		return err_set(ERR_CORRUPT, "user %s vanished", e->address);
	return 1;
}

/* The dry run: one read transaction. */
static int
mailbox_expunge_count_txn(struct store_txn *txn, void *arg)
{
	struct mailbox_expunge *e = arg;
	struct store_mailbox mb;

	return mailbox_expunge_scan(txn, e, &mb);
}

int
cmd_mail_expunge(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ "folder", 1, NULL, 0 },
		{ "before", 1, NULL, 0 },
		{ "dry-run", 0, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	struct mailbox_expunge e;
	char b1[SIZE_FORMAT_MAX], b2[SIZE_FORMAT_MAX], t[32];
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, opts, 1, 1, &n)) != 0)
		return rc;
	memset(&e, 0, sizeof(e));
	e.address = argv[0];
	e.folder = opts[0].value;
	e.dry_run = opts[2].seen;
	if (e.folder == NULL || *e.folder == '\0')
		return ctl_usage(ctl, "which folder? give --folder NAME "
		    "(INBOX for the inbox)");
	if (opts[1].value == NULL)
		return ctl_usage(ctl, "give --before DATE (YYYY-MM-DD, or 30d "
		    "for 30 days ago)");
	if (mailbox_date_parse(opts[1].value, (int64_t)store_now(),
	    &e.before) == -1)
		return ctl_usage(ctl, "'%s' is not a date: write YYYY-MM-DD, "
		    "or a duration back from now like 30d, 2w, 12h",
		    opts[1].value);
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	e.start_uid = 1;
	if (e.dry_run) {
		rc = store_read(ctl->store, mailbox_expunge_count_txn, &e);
		e.total = e.matched;
		e.total_bytes = e.bytes;
	} else {
		e.uids = xreallocarray(NULL, MAILBOX_EXPUNGE_BATCH,
		    sizeof(*e.uids));
		do {
			rc = store_write(ctl->store, mailbox_expunge_txn, &e);
			if (rc >= 0) {
				e.expunged += e.nuids;
				e.total_bytes += e.bytes;
				e.start_uid = e.next_uid;
			}
		} while (rc >= 0 && e.more);
		free(e.uids);
	}
	if (rc < 0) {
		if (e.expunged > 0)
			fprintf(stderr, "vellumctl: %zu message%s expunged "
			    "before the error\n", e.expunged,
			    e.expunged == 1 ? "" : "s");
		return ctl_fail(e.why == ME_USER ? "'vellumctl user list' "
		    "shows the users" : NULL, "mail expunge %s", e.address);
	}
	if (ctl->json) {
		printf("{\"address\": ");
		ctl_json_str(stdout, e.user.address);
		printf(", \"folder\": ");
		ctl_json_str(stdout, e.box);
		printf(", \"before\": ");
		ctl_json_str(stdout, ctl_time(e.before, t));
		printf(", \"dry_run\": %s, \"messages\": %zu, \"bytes\": %"
		    PRIu64 ", \"used_bytes\": %" PRIu64 ", \"used_messages\": %"
		    PRIu64 "}\n", e.dry_run ? "true" : "false",
		    e.dry_run ? e.total : e.expunged, e.total_bytes,
		    e.user.used_bytes, e.user.used_messages);
		return CTL_OK;
	}
	if (e.dry_run)
		printf("mail expunge %s: %zu message%s (%s) in %s saved before "
		    "%s would be expunged (dry run)\n", e.user.address,
		    e.total, e.total == 1 ? "" : "s",
		    size_format(e.total_bytes, b1, sizeof(b1)), e.box,
		    ctl_time(e.before, t));
	else
		printf("mail expunge %s: %zu message%s (%s) saved before %s "
		    "expunged from %s; usage now %s, %" PRIu64 " message%s\n",
		    e.user.address, e.expunged, e.expunged == 1 ? "" : "s",
		    size_format(e.total_bytes, b1, sizeof(b1)),
		    ctl_time(e.before, t),
		    e.box, size_format(e.user.used_bytes, b2, sizeof(b2)),
		    e.user.used_messages, e.user.used_messages == 1 ? "" : "s");
	return CTL_OK;
}
