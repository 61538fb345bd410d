/*
 * cmd_mail.c - vellumctl mail import|export|list|delete
 *
 * Import is in mailimport.c (mailimport.h).
 *
 * Export writes a Maildir (all folders as Maildir++ with names in IMAP's
 * modified UTF-7, or one folder with --folder) with file names from
 * mail/maildir.h, or an mbox (one folder,
 * INBOX by default) whose envelope sender comes from Return-Path.  The
 * message bytes are exactly the stored bytes.  The info letters and each
 * folder's dovecot-keywords are the store's (store/maildir.h): the same
 * letters the file view shows, stable as messages come and go.
 * Export writes through no symbolic link below its destination.
 *
 * Delete expunges the given UIDs (or every message with --all) of one
 * folder in one write transaction, so the usage counters and the
 * over-quota mark change with them.  It is all or nothing: when a UID
 * does not exist, nothing is deleted and the missing UIDs are named.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/error.h"
#include "common/size.h"
#include "common/xmalloc.h"
#include "mail/maildir.h"
#include "mail/mbox.h"
#include "mail/utf7.h"
#include "store/mailbox.h"
#include "store/maildir.h"
#include "store/message.h"
#include "store/user.h"

#include "ctl.h"
#include "mailimport.h"

/* Missing UIDs named in the error of "mail delete"; the rest counted. */
#define MAIL_DEL_NAMED		20
/* Bytes read to find the Subject of "mail list". */
#define MAIL_HEADER_PEEK	16384

/* "mail delete": what to delete, then what happened. */
struct mail_del {
	const char		*address, *folder;
	int			 all;
	uint32_t		*uids;		/* sorted, no duplicates */
	size_t			 nuids;
	/* set by the transaction (reset when it runs again) */
	enum { MD_USER = 1, MD_FOLDER, MD_UIDS } why;
	uint32_t		*found;		/* --all: every UID */
	size_t			 nfound;
	size_t			 deleted;
	uint64_t		 bytes;
	struct store_user	 user;		/* usage after */
	char			 box[STORE_MAILBOX_NAME_MAX + 1];
};

struct mail_list {
	uint32_t		 user_id;
	const char		*folder;
	struct store_mailbox	*boxes;
	size_t			 nboxes;
	struct store_msg	*msgs;
	size_t			 nmsgs;
	uint32_t		 mailbox_id, uid;
	void			*data;
	size_t			 len;
	char			 peek[MAIL_HEADER_PEEK];
	/* export: the folder's keyword list, read with its messages */
	int			 want_kwlist;
	char			*kwlist;
};

static int	mail_load(struct ctl *, struct mail_list *,
		    const char *address, const char *folder);
static int	mail_boxes_one(const struct store_mailbox *, void *);
static int	mail_boxes_txn(struct store_txn *, void *);
static int	mail_msgs_one(const struct store_msg *, void *);
static int	mail_msgs_txn(struct store_txn *, void *);
static int	mail_read_txn(struct store_txn *, void *);
static int	mail_peek_txn(struct store_txn *, void *);
static int	mail_mkdirs(const char *dir, int subfolder);
static int	mail_export_done(struct ctl *, FILE *, const char *format,
		    const char *dest, size_t written, size_t failed);
static int	mail_export_maildir(struct ctl *, struct mail_list *,
		    const char *dest, const char *folder);
static int	mail_export_mbox(struct ctl *, struct mail_list *,
		    const char *dest, const char *folder);
static int	mail_export(struct ctl *, const char *address,
		    const char *dest, const char *folder, const char *format);
static int	mail_list_cmd(struct ctl *, const char *address,
		    const char *folder);
static int	mail_uid_cmp(const void *, const void *);
static int	mail_del_one(const struct store_msg *, void *);
static int	mail_del_txn(struct store_txn *, void *);
static int	mail_delete(struct ctl *, int argc, char **argv,
		    const char *folder, int all);
static void	mail_sender(const char *msg, size_t len, char *buf,
		    size_t bufsize);
static int	mail_header(const char *msg, size_t len, const char *name,
		    char *buf, size_t bufsize);
static void	mail_flags_json(const char *flags);
static char	*mail_flags_text(const struct store_msg *, char *buf,
		    size_t bufsize);


/* --- reading the store ---------------------------------------------- */

static int
mail_boxes_one(const struct store_mailbox *mb, void *arg)
{
	struct mail_list *l = arg;

	if (l->folder != NULL && strcmp(l->folder, mb->name) != 0 &&
	    !(strcasecmp(l->folder, "INBOX") == 0 &&
	    strcasecmp(mb->name, "INBOX") == 0))
		return 0;
	l->boxes = xreallocarray(l->boxes, l->nboxes + 1, sizeof(*l->boxes));
	l->boxes[l->nboxes++] = *mb;
	return 0;
}

static int
mail_boxes_txn(struct store_txn *txn, void *arg)
{
	struct mail_list *l = arg;

	free(l->boxes);
	l->boxes = NULL;
	l->nboxes = 0;
	return store_mailbox_list(txn, l->user_id, mail_boxes_one, l);
}

static int
mail_msgs_one(const struct store_msg *m, void *arg)
{
	struct mail_list *l = arg;

	l->msgs = xreallocarray(l->msgs, l->nmsgs + 1, sizeof(*l->msgs));
	l->msgs[l->nmsgs++] = *m;
	return 0;
}

static int
mail_msgs_txn(struct store_txn *txn, void *arg)
{
	struct mail_list *l = arg;

	int rc;

	free(l->msgs);
	l->msgs = NULL;
	l->nmsgs = 0;
	free(l->kwlist);
	l->kwlist = NULL;
	/* The letters of the names, in the snapshot of the messages. */
	if (l->want_kwlist && (rc = store_maildir_keywords(txn,
	    l->mailbox_id, &l->kwlist)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "mailbox %"
		    PRIu32 " is gone", l->mailbox_id);
	return store_msg_list(txn, l->mailbox_id, 1, mail_msgs_one, l);
}

static int
mail_read_txn(struct store_txn *txn, void *arg)
{
	struct mail_list *l = arg;
	int rc;

	rc = store_msg_read(txn, l->mailbox_id, l->uid, &l->data, &l->len);
	if (rc == 0)
		return err_set(ERR_NOTFOUND, "message %" PRIu32 " is gone",
		    l->uid);
	return rc;
}

static int
mail_peek_txn(struct store_txn *txn, void *arg)
{
	struct mail_list *l = arg;

	return store_msg_read_range(txn, l->mailbox_id, l->uid, 0,
	    sizeof(l->peek), l->peek, &l->len);
}

/* The user's mailboxes (only folder when not NULL) into l->boxes. */
static int
mail_load(struct ctl *ctl, struct mail_list *l, const char *address,
    const char *folder)
{
	int rc;

	memset(l, 0, sizeof(*l));
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return -1;
	if ((rc = ctl_user_find(ctl, address, &l->user_id)) <= 0) {
		if (rc == 0)
			ctl_failx("mail %s: no user %s ('vellumctl user list' "
			    "shows the users)", ctl->verb, address);
		else
			ctl_fail(NULL, "mail %s %s", ctl->verb, address);
		return -1;
	}
	l->folder = folder;
	if (store_read(ctl->store, mail_boxes_txn, l) < 0) {
		ctl_fail(NULL, "mail %s %s", ctl->verb, address);
		return -1;
	}
	if (folder != NULL && l->nboxes == 0) {
		ctl_failx("mail %s: %s has no folder '%s'", ctl->verb,
		    address, folder);
		return -1;
	}
	return 0;
}

/* --- export --------------------------------------------------------- */

static int
mail_mkdirs(const char *dir, int subfolder)
{
	static const char *const subs[] = { "", "/cur", "/new", "/tmp" };
	struct stat st;
	char *p;
	size_t i;
	int fd;

	for (i = 0; i < 4; i++) {
		p = xasprintf("%s%s", dir, subs[i]);
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			err_set(ERR_TEMP, "cannot create %s: %s", p,
			    strerror(errno));
			free(p);
			return -1;
		}
		/*
		 * An existing destination may hold links planted by someone
		 * else (export runs as root): write through none of them.
		 * The destination itself is the admin's choice.
		 */
		if ((i > 0 || subfolder) && (lstat(p, &st) < 0 ||
		    !S_ISDIR(st.st_mode))) {
			err_set(ERR_PERM, "%s is %s; not followed", p,
			    S_ISLNK(st.st_mode) ? "a symbolic link" :
			    "not a directory");
			free(p);
			return -1;
		}
		free(p);
	}
	if (subfolder) {
		p = xasprintf("%s/maildirfolder", dir);
		if ((fd = open(p, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC, 0600)) >= 0)
			close(fd);
		free(p);
	}
	return 0;
}

/*
 * dir/dovecot-keywords from the folder's keyword list (store/maildir.h):
 * "N name" lines, N 0-25 being the letter a + N.  0, or -1 when it could
 * not be written (said on stderr).
 */
static int
mail_export_kwfile(const char *dir, const char *kwlist)
{
	const char *p = kwlist;
	char *kp;
	size_t n, i = 0;
	FILE *fp;
	int kfd;

	kp = xasprintf("%s/dovecot-keywords", dir);
	kfd = open(kp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC, 0600);
	if ((fp = kfd < 0 ? NULL : fdopen(kfd, "w")) == NULL && kfd >= 0)
		close(kfd);
	for (; fp != NULL && *p != '\0'; p += n + (p[n] == ' ')) {
		if ((n = strcspn(p, " ")) > 0)
			fprintf(fp, "%zu %.*s\n", i++, (int)n, p);
	}
	if (fp == NULL || fclose(fp) != 0) {
		fprintf(stderr, "vellumctl: mail export: cannot write %s\n",
		    kp);
		free(kp);
		return -1;
	}
	free(kp);
	return 0;
}

/* The summary of an export, text or (--json) one JSON object. */
static int
mail_export_done(struct ctl *ctl, FILE *out, const char *format,
    const char *dest, size_t written, size_t failed)
{
	if (!ctl->json)
		fprintf(out, "mail export: %zu messages written to %s %s, "
		    "%zu failed\n", written, format, dest, failed);
	else {
		fprintf(out, "{\"command\": \"mail\", \"verb\": \"export\", "
		    "\"ok\": %s, \"format\": ", failed == 0 ? "true" :
		    "false");
		ctl_json_str(out, format);
		fprintf(out, ", \"destination\": ");
		ctl_json_str(out, dest);
		fprintf(out, ", \"written\": %zu, \"failed\": %zu}\n",
		    written, failed);
	}
	return failed > 0 ? CTL_FAIL : CTL_OK;
}

static int
mail_export_maildir(struct ctl *ctl, struct mail_list *l, const char *dest,
    const char *folder)
{
	char host[256], name[MAILDIR_NAME_MAX + STORE_MAILDIR_INFO_MAX];
	char sub[STORE_MAILBOX_NAME_MAX * 4 + 2], *dir, *tmp, *cur;
	char enc[STORE_MAILBOX_NAME_MAX * 3 + 1];
	char info[STORE_MAILDIR_INFO_MAX];
	size_t b, i, failed = 0, written = 0;
	struct timespec ts[2];
	ssize_t w;
	int fd;

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if (mail_mkdirs(dest, 0) < 0)
		return ctl_fail(NULL, "mail export");
	l->want_kwlist = 1;
	for (b = 0; b < l->nboxes; b++) {
		const struct store_mailbox *mb = &l->boxes[b];

		if (folder != NULL)
			sub[0] = '\0';	/* the one folder is the Maildir */
		/* Modified UTF-7, as Dovecot and Courier name them. */
		else if (utf7_encode(mb->name, enc, sizeof(enc)) < 0 ||
		    maildir_folder_from_name(enc, sub, sizeof(sub)) < 0) {
			ctl_fail(NULL, "mail export: folder %s", mb->name);
			failed++;
			continue;
		}
		dir = sub[0] != '\0' ? xasprintf("%s/%s", dest, sub) :
		    xstrdup(dest);
		if (mail_mkdirs(dir, sub[0] != '\0') < 0) {
			ctl_fail(NULL, "mail export");
			free(dir);
			failed++;
			continue;
		}
		l->mailbox_id = mb->id;
		if (store_read(ctl->store, mail_msgs_txn, l) < 0) {
			ctl_fail(NULL, "mail export: folder %s", mb->name);
			free(dir);
			failed++;
			continue;
		}
		for (i = 0; i < l->nmsgs; i++) {
			const struct store_msg *m = &l->msgs[i];

			l->uid = m->uid;
			if (store_read(ctl->store, mail_read_txn, l) < 0) {
				ctl_fail(NULL, "mail export: %s uid %" PRIu32,
				    mb->name, m->uid);
				failed++;
				continue;
			}
			/*
			 * The letters are the store's (the same the file view
			 * shows): "<date>.<uid>.<host>,S=<size>:2," and then
			 * the flags and keyword letters in ASCII order.
			 */
			if (maildir_name_build((time_t)m->internal_date,
			    m->uid, host, l->len, 0, name,
			    MAILDIR_NAME_MAX) < 0) {
				ctl_fail(NULL, "mail export: uid %" PRIu32,
				    m->uid);
				free(l->data);
				failed++;
				continue;
			}
			strcat(name, store_maildir_info(m->flags, m->keywords,
			    l->kwlist, info));
			tmp = xasprintf("%s/tmp/%s", dir, name);
			cur = xasprintf("%s/cur/%s", dir, name);
			fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
			w = fd < 0 ? -1 : write(fd, l->data, l->len);
			ts[0].tv_sec = ts[1].tv_sec = (time_t)m->internal_date;
			ts[0].tv_nsec = ts[1].tv_nsec = 0;
			if (fd < 0 || w != (ssize_t)l->len ||
			    futimens(fd, ts) < 0 || close(fd) < 0 ||
			    (fd = -1, access(cur, F_OK) == 0) ||
			    rename(tmp, cur) < 0) {
				fprintf(stderr, "vellumctl: mail export: %s: "
				    "%s\n", cur, access(cur, F_OK) == 0 ?
				    "already exists" : strerror(errno));
				if (fd >= 0)
					close(fd);
				unlink(tmp);
				failed++;
			} else
				written++;
			free(tmp);
			free(cur);
			free(l->data);
			l->data = NULL;
		}
		if (l->kwlist[0] != '\0' && mail_export_kwfile(dir,
		    l->kwlist) < 0)
			failed++;
		free(dir);
	}
	free(l->kwlist);
	l->kwlist = NULL;
	return mail_export_done(ctl, stdout, "Maildir", dest, written,
	    failed);
}

/* The Return-Path address for the envelope line, "" when none. */
static void
mail_sender(const char *msg, size_t len, char *buf, size_t bufsize)
{
	char val[MBOX_SENDER_MAX + 3], *p, *e;
	size_t n;

	buf[0] = '\0';
	if (mail_header(msg, len, "Return-Path", val, sizeof(val)) != 1)
		return;
	p = val;
	while (*p == ' ' || *p == '\t' || *p == '<')
		p++;
	e = p + strcspn(p, "> \t");
	n = (size_t)(e - p) < bufsize ? (size_t)(e - p) : bufsize - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
}

/*
 * The first line of header name in the header block, trimmed; 1 found,
 * 0 not.
 */
static int
mail_header(const char *msg, size_t len, const char *name, char *buf,
    size_t bufsize)
{
	const char *p = msg, *end = msg + len, *nl, *v;
	size_t nlen = strlen(name), n;

	while (p < end) {
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			return 0;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if ((size_t)(nl - p) > nlen && p[nlen] == ':' &&
		    strncasecmp(p, name, nlen) == 0) {
			v = p + nlen + 1;
			while (v < nl && (*v == ' ' || *v == '\t'))
				v++;
			n = (size_t)(nl - v);
			while (n > 0 && isspace((unsigned char)v[n - 1]))
				n--;
			if (n >= bufsize)
				n = bufsize - 1;
			memcpy(buf, v, n);
			buf[n] = '\0';
			return 1;
		}
		p = nl + 1;
	}
	return 0;
}

static int
mail_export_mbox(struct ctl *ctl, struct mail_list *l, const char *dest,
    const char *folder)
{
	char sender[MBOX_SENDER_MAX + 1], *out;
	size_t i, olen, written = 0, failed = 0;
	FILE *fp;
	int fd;

	if (l->nboxes != 1)
		return ctl_failx("mail export: no folder %s", folder);
	if (strcmp(dest, "-") == 0)
		fp = stdout;
	else if ((fd = open(dest, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 ||
	    (fp = fdopen(fd, "w")) == NULL)
		return ctl_failx("mail export: cannot create %s: %s%s", dest,
		    strerror(errno), errno == EEXIST ? " (remove it or "
		    "choose another name)" : "");
	l->mailbox_id = l->boxes[0].id;
	if (store_read(ctl->store, mail_msgs_txn, l) < 0) {
		if (fp != stdout)
			fclose(fp);
		return ctl_fail(NULL, "mail export %s", folder);
	}
	for (i = 0; i < l->nmsgs; i++) {
		l->uid = l->msgs[i].uid;
		if (store_read(ctl->store, mail_read_txn, l) < 0) {
			ctl_fail(NULL, "mail export: %s uid %" PRIu32, folder,
			    l->uid);
			failed++;
			continue;
		}
		mail_sender(l->data, l->len, sender, sizeof(sender));
		out = mbox_format(sender, (time_t)l->msgs[i].internal_date,
		    l->data, l->len, &olen);
		if (fwrite(out, 1, olen, fp) != olen)
			failed++;
		else
			written++;
		free(out);
		free(l->data);
		l->data = NULL;
	}
	if (fp != stdout && fclose(fp) != 0)
		return ctl_failx("mail export: cannot write %s: %s", dest,
		    strerror(errno));
	if (fp == stdout && fflush(stdout) != 0)
		return ctl_failx("mail export: cannot write: %s",
		    strerror(errno));
	/* An mbox on stdout leaves the summary to stderr. */
	return mail_export_done(ctl, fp == stdout ? stderr : stdout, "mbox",
	    dest, written, failed);
}

static int
mail_export(struct ctl *ctl, const char *address, const char *dest,
    const char *folder, const char *format)
{
	struct mail_list l;
	int rc;

	if (strcmp(format, "mbox") == 0) {
		if (folder == NULL)
			folder = "INBOX";
	} else if (strcmp(format, "maildir") != 0)
		return ctl_usage(ctl, "--format is maildir or mbox, not '%s'",
		    format);
	if (mail_load(ctl, &l, address, folder) < 0) {
		free(l.boxes);
		return CTL_FAIL;
	}
	if (strcmp(format, "mbox") == 0)
		rc = mail_export_mbox(ctl, &l, dest, folder);
	else
		rc = mail_export_maildir(ctl, &l, dest, folder);
	free(l.boxes);
	free(l.msgs);
	return rc;
}

static char *
mail_flags_text(const struct store_msg *m, char *buf, size_t bufsize)
{
	static const struct {
		uint32_t	 flag;
		const char	*name;
	} names[] = {
		{ STORE_F_SEEN, "\\Seen" },
		{ STORE_F_ANSWERED, "\\Answered" },
		{ STORE_F_FLAGGED, "\\Flagged" },
		{ STORE_F_DELETED, "\\Deleted" },
		{ STORE_F_DRAFT, "\\Draft" },
	};
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (m->flags & names[i].flag)
			snprintf(buf + strlen(buf), bufsize - strlen(buf),
			    "%s%s", buf[0] != '\0' ? " " : "", names[i].name);
	if (m->keywords[0] != '\0')
		snprintf(buf + strlen(buf), bufsize - strlen(buf), "%s%s",
		    buf[0] != '\0' ? " " : "", m->keywords);
	return buf;
}

/* The flags and keywords of mail_flags_text() as JSON strings. */
static void
mail_flags_json(const char *flags)
{
	const char *p = flags;
	size_t n;
	int k = 0;

	while (*p != '\0') {
		if ((n = strcspn(p, " ")) > 0) {
			printf("%s", k++ > 0 ? ", " : "");
			ctl_json_strn(stdout, p, n);
		}
		p += n;
		p += strspn(p, " ");
	}
}

static int
mail_list_cmd(struct ctl *ctl, const char *address, const char *folder)
{
	struct mail_list l;
	char t[32], subject[1024], flags[STORE_KEYWORDS_MAX + 64];
	size_t i;

	if (mail_load(ctl, &l, address, folder != NULL ? folder : "INBOX") <
	    0) {
		free(l.boxes);
		return CTL_FAIL;
	}
	l.mailbox_id = l.boxes[0].id;
	if (store_read(ctl->store, mail_msgs_txn, &l) < 0) {
		free(l.boxes);
		return ctl_fail(NULL, "mail list %s", address);
	}
	if (ctl->json)
		printf("[");
	for (i = 0; i < l.nmsgs; i++) {
		const struct store_msg *m = &l.msgs[i];

		l.uid = m->uid;
		subject[0] = '\0';
		if (store_read(ctl->store, mail_peek_txn, &l) == 1)
			mail_header(l.peek, l.len, "Subject", subject,
			    sizeof(subject));
		mail_flags_text(m, flags, sizeof(flags));
		if (ctl->json) {
			printf("%s\n  {\"uid\": %" PRIu32 ", \"date\": ",
			    i > 0 ? "," : "", m->uid);
			ctl_json_str(stdout, ctl_time(m->internal_date, t));
			printf(", \"size\": %" PRIu64 ", \"flags\": [",
			    m->size);
			mail_flags_json(flags);
			printf("]");
			printf(", \"modseq\": %" PRIu64 ", \"subject\": ",
			    m->modseq);
			ctl_json_str(stdout, subject);
			printf("}");
			continue;
		}
		printf("%6" PRIu32 "  %s  %9" PRIu64 "  %-20s  %s\n", m->uid,
		    ctl_time(m->internal_date, t), m->size, flags, subject);
	}
	if (ctl->json)
		printf("%s]\n", l.nmsgs > 0 ? "\n" : "");
	free(l.boxes);
	free(l.msgs);
	return CTL_OK;
}

/* --- delete --------------------------------------------------------- */

static int
mail_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
mail_del_one(const struct store_msg *m, void *arg)
{
	struct mail_del *d = arg;

	d->found = xreallocarray(d->found, d->nfound + 1, sizeof(*d->found));
	d->found[d->nfound++] = m->uid;
	return 0;
}

/*
 * Checks every UID first and deletes only when all exist: a typo in one
 * UID must not leave the others half done.
 */
static int
mail_del_txn(struct store_txn *txn, void *arg)
{
	struct mail_del *d = arg;
	struct store_mailbox mb;
	struct store_msg m;
	const uint32_t *uids;
	size_t i, n, nmissing = 0;
	char named[MAIL_DEL_NAMED * 12 + 1];
	size_t off = 0;
	int rc;

	d->why = 0;
	d->deleted = 0;
	d->bytes = 0;
	free(d->found);
	d->found = NULL;
	d->nfound = 0;
	named[0] = '\0';
	if ((rc = store_user_find(txn, d->address, &d->user)) != 1) {
		d->why = MD_USER;
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no user %s",
		    d->address);
	}
	if ((rc = store_mailbox_get(txn, d->user.id, d->folder, &mb)) != 1) {
		d->why = MD_FOLDER;
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "%s has no "
		    "folder '%s'", d->user.address, d->folder);
	}
	snprintf(d->box, sizeof(d->box), "%s", mb.name);
	if (d->all) {
		if (store_msg_list(txn, mb.id, 1, mail_del_one, d) < 0)
			return -1;
		uids = d->found;
		n = d->nfound;
	} else {
		uids = d->uids;
		n = d->nuids;
	}
	for (i = 0; i < n; i++) {
		if ((rc = store_msg_get(txn, mb.id, uids[i], &m)) == -1)
			return -1;
		if (rc == 1) {
			d->bytes += m.size;
			continue;
		}
		if (nmissing++ < MAIL_DEL_NAMED)
			off += (size_t)snprintf(named + off, sizeof(named) -
			    off, "%s%" PRIu32, off > 0 ? ", " : "", uids[i]);
	}
	if (nmissing > 0) {
		d->why = MD_UIDS;
		if (nmissing > MAIL_DEL_NAMED)
			return err_set(ERR_NOTFOUND, "no messages with UIDs %s "
			    "and %zu more in %s; nothing deleted", named,
			    nmissing - MAIL_DEL_NAMED, mb.name);
		return err_set(ERR_NOTFOUND, "no message%s with UID%s %s in "
		    "%s; nothing deleted", nmissing > 1 ? "s" : "",
		    nmissing > 1 ? "s" : "", named, mb.name);
	}
	for (i = 0; i < n; i++) {
		if ((rc = store_msg_expunge(txn, mb.id, uids[i])) != 1)
			return rc == -1 ? -1 : err_set(ERR_CORRUPT, "message "
			    "%" PRIu32 " vanished while it was deleted",
			    uids[i]);
		d->deleted++;
	}
	if (store_user_get(txn, d->user.id, &d->user) != 1)
		return err_set(ERR_CORRUPT, "user %s vanished", d->address);
	return 1;
}

static int
mail_delete(struct ctl *ctl, int argc, char **argv, const char *folder,
    int all)
{
	struct mail_del d;
	const struct store_user *u = &d.user;
	char b1[SIZE_FORMAT_MAX], b2[SIZE_FORMAT_MAX], t[32], *end;
	unsigned long long v;
	size_t i, j;
	int rc;

	memset(&d, 0, sizeof(d));
	d.address = argv[0];
	d.folder = folder != NULL ? folder : "INBOX";
	d.all = all;
	if (*d.folder == '\0')
		return ctl_usage(ctl, "--folder needs a name");
	if (all && argc > 1)
		return ctl_usage(ctl, "give UIDs or --all, not both");
	if (!all && argc < 2)
		return ctl_usage(ctl, "which messages? give UIDs ('vellumctl "
		    "mail list' shows them) or --all");
	d.uids = xreallocarray(NULL, (size_t)argc, sizeof(*d.uids));
	for (i = 1; i < (size_t)argc; i++) {
		errno = 0;
		v = strtoull(argv[i], &end, 10);
		if (errno != 0 || end == argv[i] || *end != '\0' ||
		    !isdigit((unsigned char)argv[i][0]) || v == 0 ||
		    v > UINT32_MAX) {
			free(d.uids);
			return ctl_usage(ctl, "'%s' is not a UID (a number "
			    "from 1)", argv[i]);
		}
		d.uids[d.nuids++] = (uint32_t)v;
	}
	if (d.nuids > 0) {
		qsort(d.uids, d.nuids, sizeof(*d.uids), mail_uid_cmp);
		for (i = 1, j = 1; i < d.nuids; i++)
			if (d.uids[i] != d.uids[j - 1])
				d.uids[j++] = d.uids[i];
		d.nuids = j;
	}
	if (ctl_open(ctl, STORE_NOCREATE) < 0) {
		free(d.uids);
		return CTL_FAIL;
	}
	rc = store_write(ctl->store, mail_del_txn, &d);
	free(d.uids);
	if (rc < 0) {
		free(d.found);
		return ctl_fail(d.why == MD_USER ? "'vellumctl user list' "
		    "shows the users" : d.why == MD_UIDS ? "'vellumctl mail "
		    "list' shows the UIDs" : NULL, "mail delete %s",
		    d.address);
	}
	if (ctl->json) {
		printf("{\"address\": ");
		ctl_json_str(stdout, u->address);
		printf(", \"folder\": ");
		ctl_json_str(stdout, d.box);
		printf(", \"deleted\": %zu, \"bytes\": %" PRIu64 ", "
		    "\"used_bytes\": %" PRIu64 ", \"used_messages\": %" PRIu64
		    ", \"over_limit\": %s, \"over_quota_since\": ",
		    d.deleted, d.bytes, u->used_bytes, u->used_messages,
		    store_user_quota_fits(u, 0, 0) ? "false" : "true");
		if (u->over_quota_since != 0)
			ctl_json_str(stdout, ctl_time(u->over_quota_since, t));
		else
			printf("null");
		printf("}\n");
	} else {
		printf("mail delete %s: %zu message%s (%s) deleted from %s; "
		    "usage now %s, %" PRIu64 " message%s%s\n", u->address,
		    d.deleted, d.deleted == 1 ? "" : "s",
		    size_format(d.bytes, b1, sizeof(b1)), d.box,
		    size_format(u->used_bytes, b2, sizeof(b2)),
		    u->used_messages, u->used_messages == 1 ? "" : "s",
		    store_user_quota_fits(u, 0, 0) ? "" :
		    " (still over quota)");
	}
	free(d.found);
	return CTL_OK;
}

int
cmd_mail(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ "folder", 1, NULL, 0 },
		{ "format", 1, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	const char *folder;
	int n, rc;

	if (strcmp(ctl->verb, "import") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, opts, 2, 2, &n)) != 0)
			return rc;
		if (opts[1].seen)
			return ctl_usage(ctl, "mail import takes no --format: "
			    "the kind of PATH is recognised");
		folder = opts[0].value != NULL ? opts[0].value : "INBOX";
		if (*folder == '\0')
			return ctl_usage(ctl, "--folder needs a name");
		return mailimport_run(ctl, argv[0], argv[1], folder);
	}
	if (strcmp(ctl->verb, "export") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, opts, 2, 2, &n)) != 0)
			return rc;
		return mail_export(ctl, argv[0], argv[1], opts[0].value,
		    opts[1].value != NULL ? opts[1].value : "maildir");
	}
	if (strcmp(ctl->verb, "delete") == 0) {
		struct ctl_opt dopts[] = {
			{ "folder", 1, NULL, 0 },
			{ "all", 0, NULL, 0 },
			{ NULL, 0, NULL, 0 },
		};

		if ((rc = ctl_args(ctl, argc, argv, dopts, 1, -1, &n)) != 0)
			return rc;
		return mail_delete(ctl, n, argv, dopts[0].value,
		    dopts[1].seen);
	}
	if (strcmp(ctl->verb, "expunge") == 0)
		return cmd_mail_expunge(ctl, argc, argv);
	if (strcmp(ctl->verb, "list") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, opts, 1, 1, &n)) != 0)
			return rc;
		if (opts[1].seen)
			return ctl_usage(ctl, "mail list takes no --format");
		return mail_list_cmd(ctl, argv[0], opts[0].value);
	}
	return ctl_usage(ctl, "unknown command 'mail %s'", ctl->verb);
}
