/*
 * sendmail.c - vellum-sendmail: the sendmail(1) interface for local
 * programs (PHP mail(), cron, shell users, `sendmail -bs` clients), see
 * man/vellum-sendmail.8.
 *
 * It opens the store itself and submits straight into the delivery
 * pipeline (deliver/deliver.h): every recipient is resolved first, and
 * only when all of them are acceptable is the message delivered, in one
 * job (local mailboxes at once, external recipients queued for
 * vellum-mta).  Nothing is delivered when one recipient is refused.
 *
 * Who may submit and as which envelope sender is the [sendmail] section
 * of vellum.conf: users (may submit at all), trusted (may give any -f
 * sender), domain (of unqualified addresses).  The caller is the real
 * uid, so the program can be installed setgid to the group that owns the
 * store.
 *
 * Messages are stored with LF line ends, as `vellumctl mail import`
 * stores files (input CRLF is turned into LF).  The header fields
 * Postfix's cleanup adds to local submissions are added here when
 * missing: Received (always), Date, Message-ID, From; Bcc, Resent-Bcc
 * and Return-Path are removed.  Exit codes come from sysexits.h.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "deliver/deliver.h"
#include "smtpd/parse.h"
#include "store/queue.h"
#include "store/store.h"
#include "store/user.h"

#define SENDMAIL_NAME		"vellum-sendmail"
#define SENDMAIL_CONF_DEFAULT	"/etc/vellum/vellum.conf"
/* A job whose recipients' locks are held elsewhere is retried ... */
#define SENDMAIL_BUSY_STEP_MS	20
/* ... for at most this long, then EX_TEMPFAIL. */
#define SENDMAIL_BUSY_MAX_MS	(60 * 1000)
/* The groups of a user looked at for "@group" in users/trusted. */
#define SENDMAIL_GROUPS_MAX	256
/* Longest -F full name kept. */
#define SENDMAIL_NAME_MAX	200
/* Options without a value, which may stand together ("-ti"). */
#define SENDMAIL_FLAGS		"tivUGmn"
/* -bs: longest command line (as smtpd). */
#define SENDMAIL_BS_LINE_MAX	SMTP_LINE_MAX
/* -bs: commands refused before the dialogue is ended. */
#define SENDMAIL_BS_BAD_MAX	20

enum sendmail_mode {
	SM_DELIVER,		/* -bm (default) */
	SM_SMTP,		/* -bs */
	SM_MAILQ,		/* -bp, mailq */
	SM_NEWALIASES,		/* -bi, newaliases */
	SM_QUEUE_RUN,		/* -q */
};

struct sendmail {
	enum sendmail_mode	 mode;
	int			 extract;	/* -t */
	int			 dot_ends;	/* no -i: "." ends the input */
	int			 verbose;	/* -v */
	const char		*from;		/* -f / -r */
	const char		*fullname;	/* -F */
	const char		*conf;		/* -C / -c */
	char			**args;		/* recipients */
	int			 nargs;

	struct config		 cfg;
	const char		*domain;	/* of unqualified addresses */
	/* the caller (real uid) */
	uid_t			 uid;
	char			 login[64];
	char			 gecos[SENDMAIL_NAME_MAX + 1];
	int			 trusted;
	char			 own[DELIVER_ADDR_MAX + 1];	/* login@domain */

	struct store		*store;
	struct deliver_config	 dcfg;
	uint64_t		 qid_num;	/* store_queue_id_new() */
	/* DSN requests (-N, -R, -V) */
	uint8_t			 notify;	/* STORE_NOTIFY_*, 0 none */
	int			 ret;		/* STORE_RET_* */
	const char		*envid;		/* NULL none */
	char			 qid[STORE_QUEUE_ID_LEN + 1];	/* as text */
	/* the envelope */
	char			 sender[DELIVER_ADDR_MAX + 1];	/* "" <> */
	struct deliver_rcpt	*rcpts;
	size_t			 nrcpts;
};

/* One header field of the submitted message: [start, start + len). */
struct sendmail_field {
	size_t	start, len;		/* with its line end(s) */
	size_t	namelen;
};

struct sendmail_header {
	struct sendmail_field	*f;
	size_t			 n;
	size_t			 end;	/* where the body starts */
	int			 blank;	/* a blank line separates them */
};

static void	sendmail_fail(int ex, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3), noreturn));
static void	sendmail_usage(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static void	sendmail_options(struct sendmail *, int argc, char **argv);
static uint8_t	sendmail_notify(const char *);
static int	sendmail_envid_ok(const char *);
static void	sendmail_config(struct sendmail *);
static int	sendmail_setid(void);
static void	sendmail_caller(struct sendmail *);
static int	sendmail_names_match(const char *list, const char *login,
		    gid_t gid);
static int	sendmail_qualify(const struct sendmail *, const char *in,
		    char *out, size_t size);
static int	sendmail_sender_ok(const struct sendmail *, const char *addr);
static void	sendmail_open(struct sendmail *);
static void	sendmail_new_qid(struct sendmail *);
static int	sendmail_add_rcpt(struct sendmail *, const char *addr,
		    char *why, size_t whysize, int *ex_r);
static int	sendmail_code_exit(int code);
static char	*sendmail_read(struct sendmail *, size_t *len_r);
static void	sendmail_parse_header(const char *msg, size_t len,
		    struct sendmail_header *h);
static int	sendmail_field_is(const char *msg,
		    const struct sendmail_field *, const char *name);
static void	sendmail_extract(struct sendmail *, const char *msg,
		    const struct sendmail_header *);
static void	sendmail_addr_list(struct sendmail *, const char *value,
		    size_t len);
static char	*sendmail_build(struct sendmail *, const char *msg,
		    size_t len, size_t *len_r);
static int	sendmail_deliver(struct sendmail *, const char *msg,
		    size_t len, char *why, size_t whysize);
static void	sendmail_clear_rcpts(struct sendmail *);
static int	sendmail_submit(struct sendmail *);
static int	sendmail_queue_run(struct sendmail *);
static int	sendmail_qrun_one(const struct store_queue_entry *, void *);
static int	sendmail_qrun_txn(struct store_txn *, void *);
static char	*sendmail_line(char *buf, size_t max, size_t *len_r,
		    int *toolong_r);
static char	*sendmail_smtp_data(struct sendmail *, size_t *len_r,
		    int *toobig_r, int *toolong_r);
static int	sendmail_smtp(struct sendmail *);
static int	sendmail_mailq(struct sendmail *, const char *argv0);

static void
sendmail_fail(int ex, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", SENDMAIL_NAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(ex);
}

static void
sendmail_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", SENDMAIL_NAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: sendmail [-t] [-i] [-f sender] [-F name] "
	    "[-C vellum.conf] [-bm | -bs | -bp | -bi | -q] [-v] "
	    "[recipient ...]\n(see vellum-sendmail(8))\n");
	exit(EX_USAGE);
}

/*
 * -N: "never", or a comma list of success, failure, delay (any case), as
 * sendmail(8) and RFC 3461 name them.  Exits EX_USAGE on anything else.
 */
static uint8_t
sendmail_notify(const char *val)
{
	char buf[64], *w, *save = NULL;
	uint8_t n = 0;

	if (strlen(val) >= sizeof(buf))
		sendmail_usage("-N %.40s...: too long", val);
	snprintf(buf, sizeof(buf), "%s", val);
	for (w = strtok_r(buf, ",", &save); w != NULL;
	    w = strtok_r(NULL, ",", &save)) {
		if (strcasecmp(w, "never") == 0)
			n |= STORE_NOTIFY_NEVER;
		else if (strcasecmp(w, "success") == 0)
			n |= STORE_NOTIFY_SUCCESS;
		else if (strcasecmp(w, "failure") == 0)
			n |= STORE_NOTIFY_FAILURE;
		else if (strcasecmp(w, "delay") == 0)
			n |= STORE_NOTIFY_DELAY;
		else
			n = 0xff;
	}
	if (n == 0 || n == 0xff || ((n & STORE_NOTIFY_NEVER) &&
	    n != STORE_NOTIFY_NEVER))
		sendmail_usage("-N %s: write never, or a list of success, "
		    "failure and delay (e.g. -N failure,delay)", val);
	return n;
}

/* -V: the envelope id, kept as it is (printable, no '+', '=' or space:
   so it needs no xtext encoding). */
static int
sendmail_envid_ok(const char *v)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if (v[i] <= ' ' || v[i] > '~' || v[i] == '+' || v[i] == '=')
			return 0;
	return i > 0 && i <= STORE_QUEUE_ENVID_MAX;
}

/*
 * sendmail's options: one letter, its value attached ("-fADDR") or in the
 * next argument.  The first argument that is not an option, or "--",
 * ends them; the rest are recipients.
 */
static void
sendmail_options(struct sendmail *sm, int argc, char **argv)
{
	const char *a, *val;
	int i;

	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "--help") == 0) {
			printf("usage: sendmail [-t] [-i] [-f sender] [-F name] "
			    "[-C vellum.conf] [-bm | -bs | -bp | -bi | -q] "
			    "[-v] [recipient ...]\n(see vellum-sendmail(8))\n");
			exit(0);
		}
		val = NULL;
		/* Options that take a value. */
		if (strchr("fFrCcoOBhLNRVeXp", a[1]) != NULL) {
			if (a[2] != '\0')
				val = a + 2;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				sendmail_usage("option -%c needs a value", a[1]);
		} else if (a[1] != 'b' && a[1] != 'q' && a[2] != '\0') {
			/* Flags together, as getopt takes them ("-ti"). */
			if (strspn(a + 1, SENDMAIL_FLAGS) != strlen(a + 1))
				sendmail_usage("unknown option %s", a);
			sm->extract |= strchr(a, 't') != NULL;
			sm->verbose |= strchr(a, 'v') != NULL;
			if (strchr(a, 'i') != NULL)
				sm->dot_ends = 0;
			continue;
		}
		switch (a[1]) {
		case 'f':
		case 'r':
			sm->from = val;
			break;
		case 'F':
			sm->fullname = val;
			break;
		case 'C':
		case 'c':
			sm->conf = val;
			break;
		case 't':
			sm->extract = 1;
			break;
		case 'i':
			sm->dot_ends = 0;
			break;
		case 'o':
			/* -oi as -i; the other -o options are ignored. */
			if (strcmp(val, "i") == 0)
				sm->dot_ends = 0;
			break;
		case 'O':	/* option=value: ignored */
		case 'B':	/* body type: 8-bit is kept as it is */
		case 'h':	/* hop count */
		case 'L':	/* syslog label */
		case 'e':	/* error mode */
		case 'X':	/* traffic log */
		case 'p':	/* protocol */
			break;
		case 'N':
			sm->notify = sendmail_notify(val);
			break;
		case 'R':
			if (strcasecmp(val, "full") == 0)
				sm->ret = STORE_RET_FULL;
			else if (strcasecmp(val, "hdrs") == 0)
				sm->ret = STORE_RET_HDRS;
			else
				sendmail_usage("-R %s: write -R full or -R hdrs "
				    "(what a bounce returns)", val);
			break;
		case 'V':
			if (!sendmail_envid_ok(val))
				sendmail_usage("-V: an envelope id is 1 to %d "
				    "printable ASCII characters without '+', "
				    "'=' or spaces", STORE_QUEUE_ENVID_MAX);
			sm->envid = val;
			break;
		case 'U':
		case 'G':
		case 'm':
		case 'n':
			break;
		case 'v':
			sm->verbose = 1;
			break;
		case 'b':
			if (strcmp(a, "-bm") == 0)
				sm->mode = SM_DELIVER;
			else if (strcmp(a, "-bs") == 0)
				sm->mode = SM_SMTP;
			else if (strcmp(a, "-bp") == 0)
				sm->mode = SM_MAILQ;
			else if (strcmp(a, "-bi") == 0)
				sm->mode = SM_NEWALIASES;
			else if (strcmp(a, "-bd") == 0)
				sendmail_usage("-bd is not supported: vellumd "
				    "runs the daemons (see vellumd(8))");
			else
				sendmail_usage("unknown option %s", a);
			break;
		case 'q':
			if (a[2] != '\0')
				sendmail_usage("%s: vellum-mta runs the queue "
				    "by itself; give -q alone", a);
			sm->mode = SM_QUEUE_RUN;
			break;
		default:
			sendmail_usage("unknown option %s", a);
		}
	}
	sm->args = argv + i;
	sm->nargs = argc - i;
}

/*
 * -C FILE, else /etc/vellum/vellum.conf when it exists, else the
 * embedded default (as the daemons and vellumctl -c).
 */
static void
sendmail_config(struct sendmail *sm)
{
	char *errors = NULL;
	const char *path = sm->conf;

	/*
	 * Installed setgid (or setuid), another file could name another
	 * store or make its caller trusted: only root may give -C then.
	 */
	if (path != NULL && sendmail_setid() && getuid() != 0 &&
	    strcmp(path, SENDMAIL_CONF_DEFAULT) != 0)
		sendmail_fail(EX_NOPERM, "-C %s: only root may give another "
		    "configuration file to this set-group-id program", path);
	if (path == NULL && access(SENDMAIL_CONF_DEFAULT, F_OK) == 0)
		path = SENDMAIL_CONF_DEFAULT;
	if (path == NULL) {
		config_default(&sm->cfg);
	} else if (config_load(path, &sm->cfg, &errors) != 0) {
		if (errors != NULL) {
			fputs(errors, stderr);
			free(errors);
		}
		sendmail_fail(EX_CONFIG, "%s", err_msg());
	}
	sm->domain = sm->cfg.sendmail_domain[0] != '\0' ?
	    sm->cfg.sendmail_domain : sm->cfg.hostname;
	store_user_set_full_mark(sm->cfg.quota_full_mark);
}

/* Whether we run with other ids than the caller's (setgid install). */
static int
sendmail_setid(void)
{
	return getuid() != geteuid() || getgid() != getegid();
}

/* Whether login, or one of its groups, is in a users/trusted list. */
static int
sendmail_names_match(const char *list, const char *login, gid_t gid)
{
	gid_t groups[SENDMAIL_GROUPS_MAX];
	int ngroups = SENDMAIL_GROUPS_MAX, i;
	const char *p = list, *e;
	struct group *gr;
	char item[CONFIG_NAMES_MAX];
	size_t n;

	if (getgrouplist(login, gid, groups, &ngroups) == -1)
		ngroups = SENDMAIL_GROUPS_MAX;	/* the first ones */
	while (*p != '\0') {
		e = strchr(p, ',');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		snprintf(item, sizeof(item), "%.*s", (int)n, p);
		p += n + (e != NULL);
		if (strcmp(item, "*") == 0 || strcmp(item, login) == 0)
			return 1;
		if (item[0] != '@' || (gr = getgrnam(item + 1)) == NULL)
			continue;
		for (i = 0; i < ngroups; i++)
			if (groups[i] == gr->gr_gid)
				return 1;
	}
	return 0;
}

/* Who runs us (the real uid), and what they may do. */
static void
sendmail_caller(struct sendmail *sm)
{
	struct passwd *pw;
	gid_t gid;
	size_t n;

	sm->uid = getuid();
	gid = getgid();
	if ((pw = getpwuid(sm->uid)) != NULL) {
		snprintf(sm->login, sizeof(sm->login), "%s", pw->pw_name);
		gid = pw->pw_gid;
		n = strcspn(pw->pw_gecos != NULL ? pw->pw_gecos : "", ",");
		snprintf(sm->gecos, sizeof(sm->gecos), "%.*s", (int)n,
		    pw->pw_gecos != NULL ? pw->pw_gecos : "");
	} else
		snprintf(sm->login, sizeof(sm->login), "uid%lu",
		    (unsigned long)sm->uid);
	sm->trusted = sendmail_names_match(sm->cfg.sendmail_trusted,
	    sm->login, gid);
	if (sm->mode != SM_NEWALIASES && !sm->trusted &&
	    !sendmail_names_match(sm->cfg.sendmail_users, sm->login, gid))
		sendmail_fail(EX_NOPERM, "user %s (uid %lu) may not submit "
		    "mail: not in [sendmail] users of %s", sm->login,
		    (unsigned long)sm->uid, sm->cfg.path[0] != '\0' ?
		    sm->cfg.path : "the embedded default configuration");
	if (sendmail_qualify(sm, sm->login, sm->own, sizeof(sm->own)) != 1)
		sendmail_fail(EX_NOUSER, "user name %s is not an address",
		    sm->login);
}

/*
 * An address as given on the command line, after -f, in MAIL/RCPT or in
 * a header ("Name <a@b>" and "<a@b>" are taken too): blanks and brackets
 * removed, "@domain" added when it has no '@'.  1 done, 0 the null
 * address ("<>" or ""), -1 too long or a control character.
 */
static int
sendmail_qualify(const struct sendmail *sm, const char *in, char *out,
    size_t size)
{
	const char *s = in, *e, *lt, *gt;
	size_t n;
	int w;

	if ((lt = strrchr(s, '<')) != NULL &&
	    (gt = strchr(lt, '>')) != NULL) {
		s = lt + 1;
		e = gt;
	} else
		e = s + strlen(s);
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	n = (size_t)(e - s);
	if (n == 0)
		return 0;
	for (lt = s; lt < e; lt++)
		if ((unsigned char)*lt < 32 || *lt == 127)
			return -1;
	if (memchr(s, '@', n) != NULL)
		w = snprintf(out, size, "%.*s", (int)n, s);
	else
		w = snprintf(out, size, "%.*s@%s", (int)n, s, sm->domain);
	return w < 0 || (size_t)w >= size ? -1 : 1;
}

/* May the caller send as addr ("" for <>)?  Trusted: any; else own. */
static int
sendmail_sender_ok(const struct sendmail *sm, const char *addr)
{
	char a[STORE_ADDRESS_MAX + 1], b[STORE_ADDRESS_MAX + 1];

	if (sm->trusted)
		return 1;
	if (addr[0] == '\0')
		return 0;
	if (store_address_normalize(addr, a, 0) == -1 ||
	    store_address_normalize(sm->own, b, 0) == -1)
		return strcasecmp(addr, sm->own) == 0;
	return strcmp(a, b) == 0;
}

static void
sendmail_open(struct sendmail *sm)
{
	char path[PATH_MAX + 32];
	struct stat sb;

	if (sm->store != NULL)
		return;
	/* store_open() says "no store" for any stat() failure. */
	snprintf(path, sizeof(path), "%s/store/data.mdb", sm->cfg.data_dir);
	if (stat(path, &sb) == -1 && errno == EACCES)
		sendmail_fail(EX_NOPERM, "cannot open the store in %s: %s "
		    "(vellum-sendmail must run as root or setgid to the "
		    "group that owns it, see vellum-sendmail(8))",
		    sm->cfg.data_dir, strerror(errno));
	if (store_open(sm->cfg.data_dir, STORE_NOCREATE, &sm->store) == -1) {
		if (err_class() == ERR_NOTFOUND)
			sendmail_fail(EX_CONFIG, "%s (give -C vellum.conf)",
			    err_msg());
		sendmail_fail(EX_TEMPFAIL, "cannot open the store in %s: %s "
		    "(vellum-sendmail must run as root or setgid to the "
		    "group that owns it, see vellum-sendmail(8))",
		    sm->cfg.data_dir, err_msg());
	}
	/* Without the SRS secret (a secret_file only root reads) forwards
	   keep their sender: a warning, not a refusal. */
	if (deliver_config_init(&sm->dcfg, sm->store, &sm->cfg) == -1)
		fprintf(stderr, "vellum-sendmail: warning: [srs]: %s; forwards "
		    "keep their sender\n", err_msg());
	/*
	 * Filters' programs run as their users' accounts: only root can
	 * switch to them.  Run by anyone else, a filter that wants a program
	 * fails and keeps the message in INBOX (logged).
	 */
	if (geteuid() == 0 && deliver_runner_start(&sm->dcfg, &sm->cfg) ==
	    -1)
		fprintf(stderr, "vellum-sendmail: warning: [filter]: %s; "
		    "filters that run programs keep mail in INBOX\n",
		    err_msg());
}

/* The queue id of a submission: its Received header and log line. */
static void
sendmail_new_qid(struct sendmail *sm)
{
	sm->qid_num = store_queue_id_new();
	store_queue_id_format(sm->qid_num, sm->qid);
}

struct sendmail_qrun {
	uint64_t	*ids;
	size_t		 n;
};

static int
sendmail_qrun_one(const struct store_queue_entry *e, void *arg)
{
	struct sendmail_qrun *q = arg;

	q->ids = xreallocarray(q->ids, q->n + 1, sizeof(*q->ids));
	q->ids[q->n++] = e->id;
	return 0;
}

/* Every entry not held: next try now (0: as soon as possible). */
static int
sendmail_qrun_txn(struct store_txn *t, void *arg)
{
	struct sendmail_qrun *q = arg;
	struct store_queue_entry e;
	size_t i, n = 0;
	int rc;

	q->n = 0;
	if (store_queue_list(t, sendmail_qrun_one, q) == -1)
		return -1;
	for (i = 0; i < q->n; i++) {
		if ((rc = store_queue_get(t, q->ids[i], &e)) == -1)
			return -1;
		if (rc == 0)
			continue;
		if (!(e.flags & STORE_QF_HOLD) && e.next_try != 0) {
			e.next_try = 0;
			rc = store_queue_put(t, &e);
		}
		store_queue_entry_clear(&e);
		if (rc == -1)
			return -1;
		q->ids[n++] = q->ids[i];
	}
	q->n = n;
	return 1;
}

/* -q: vellum-mta tries every entry of the queue at its next look. */
static int
sendmail_queue_run(struct sendmail *sm)
{
	struct sendmail_qrun q;

	memset(&q, 0, sizeof(q));
	sendmail_open(sm);
	if (store_write(sm->store, sendmail_qrun_txn, &q) == -1) {
		free(q.ids);
		sendmail_fail(EX_TEMPFAIL, "queue run: %s", err_msg());
	}
	printf("%s: %zu queue entr%s to be tried now by vellum-mta\n",
	    SENDMAIL_NAME, q.n, q.n == 1 ? "y" : "ies");
	free(q.ids);
	return EX_OK;
}

/*
 * Resolves one recipient and keeps it (once).  1 accepted; 0 refused:
 * why is the SMTP reply ("550 5.1.1 <addr>: ...") and *ex_r the exit
 * code for it (EX_TEMPFAIL for a store error).
 */
static int
sendmail_add_rcpt(struct sendmail *sm, const char *addr, char *why,
    size_t whysize, int *ex_r)
{
	char q[DELIVER_ADDR_MAX + 1];
	struct deliver_rcpt r;
	size_t i;

	if (sendmail_qualify(sm, addr, q, sizeof(q)) != 1) {
		snprintf(why, whysize, "501 5.1.3 <%.200s>: Bad recipient "
		    "address syntax", addr);
		*ex_r = EX_DATAERR;
		return 0;
	}
	if (sm->nrcpts >= sm->cfg.smtpd_max_recipients) {
		snprintf(why, whysize, "452 4.5.3 Error: too many recipients "
		    "(at most %u)", sm->cfg.smtpd_max_recipients);
		*ex_r = EX_DATAERR;
		return 0;
	}
	if (deliver_resolve_from(sm->store, &sm->dcfg, sm->sender, q, 0,
	    &r) == -1) {
		snprintf(why, whysize, "%d %s", r.code, r.text);
		deliver_rcpt_clear(&r);
		*ex_r = EX_TEMPFAIL;
		return 0;
	}
	if (r.kind == DELIVER_NOTLOCAL) {
		/* A local user's mail to another domain: queued. */
		r.relay = 1;
		r.code = 250;
		snprintf(r.text, sizeof(r.text), "2.1.5 Ok");
	} else if (r.kind != DELIVER_LOCAL) {
		snprintf(why, whysize, "%d %s", r.code, r.text);
		*ex_r = sendmail_code_exit(r.code);
		deliver_rcpt_clear(&r);
		return 0;
	}
	for (i = 0; i < sm->nrcpts; i++)
		if (strcmp(sm->rcpts[i].addr, r.addr) == 0) {
			deliver_rcpt_clear(&r);
			return 1;
		}
	r.notify = sm->notify;
	sm->rcpts = xreallocarray(sm->rcpts, sm->nrcpts + 1,
	    sizeof(*sm->rcpts));
	sm->rcpts[sm->nrcpts++] = r;
	return 1;
}

/* The exit code for a refused recipient's reply code. */
static int
sendmail_code_exit(int code)
{
	if (code >= 400 && code < 500)
		return EX_TEMPFAIL;
	if (code == 550)
		return EX_NOUSER;
	return EX_DATAERR;
}

static void
sendmail_clear_rcpts(struct sendmail *sm)
{
	size_t i;

	for (i = 0; i < sm->nrcpts; i++)
		deliver_rcpt_clear(&sm->rcpts[i]);
	free(sm->rcpts);
	sm->rcpts = NULL;
	sm->nrcpts = 0;
}

/*
 * Reads the message from stdin: to the end, or (without -i) to a line
 * that holds only ".".  CRLF becomes LF.  NULL when it is larger than
 * [smtpd] max_message_size (the rest is not read).
 */
static char *
sendmail_read(struct sendmail *sm, size_t *len_r)
{
	size_t max = sm->cfg.smtpd_max_message_size, len = 0, cap = 8192;
	size_t line = 0;	/* where the current line starts */
	char *buf = xmalloc(cap);
	int c;

	while ((c = getc_unlocked(stdin)) != EOF) {
		if (len + 2 > cap) {
			cap *= 2;
			buf = xreallocarray(buf, cap, 1);
		}
		if (c == '\n') {
			if (len > line && buf[len - 1] == '\r')
				len--;
			if (sm->dot_ends && len - line == 1 &&
			    buf[line] == '.') {
				len = line;
				break;
			}
			buf[len++] = '\n';
			line = len;
		} else
			buf[len++] = (char)c;
		/* A CR may still go with the line end: one byte of grace. */
		if (len > max + 1) {
			free(buf);
			return NULL;
		}
	}
	if (len > max) {
		free(buf);
		return NULL;
	}
	*len_r = len;
	return buf;
}

/*
 * The header fields at the start of msg: "Name:" lines and their
 * continuation lines, up to an empty line (h->blank) or the first line
 * that is neither (then the rest is body, without a separator).
 */
static void
sendmail_parse_header(const char *msg, size_t len,
    struct sendmail_header *h)
{
	const char *p, *nl;
	size_t off = 0, ll, i;

	memset(h, 0, sizeof(*h));
	while (off < len) {
		p = msg + off;
		nl = memchr(p, '\n', len - off);
		ll = nl != NULL ? (size_t)(nl - p) + 1 : len - off;
		if (p[0] == '\n') {
			h->blank = 1;
			h->end = off + 1;
			return;
		}
		if ((p[0] == ' ' || p[0] == '\t') && h->n > 0) {
			h->f[h->n - 1].len += ll;
			off += ll;
			continue;
		}
		for (i = 0; i < ll && p[i] != ':'; i++)
			if ((unsigned char)p[i] <= 32 ||
			    (unsigned char)p[i] >= 127)
				break;
		if (i == 0 || i == ll || p[i] != ':' || nl == NULL)
			break;		/* not a header field: body */
		h->f = xreallocarray(h->f, h->n + 1, sizeof(*h->f));
		h->f[h->n].start = off;
		h->f[h->n].len = ll;
		h->f[h->n].namelen = i;
		h->n++;
		off += ll;
	}
	h->end = off;
}

static int
sendmail_field_is(const char *msg, const struct sendmail_field *f,
    const char *name)
{
	return f->namelen == strlen(name) &&
	    strncasecmp(msg + f->start, name, f->namelen) == 0;
}

/*
 * Adds the addresses of a To/Cc/Bcc value: a comma list of "addr",
 * "Name <addr>", "addr (comment)", groups "name: a, b;".
 */
static void
sendmail_addr_list(struct sendmail *sm, const char *value, size_t len)
{
	char *item = xmalloc(len + 1), why[DELIVER_TEXT_MAX + 64];
	size_t i, n = 0;
	int quote = 0, angle = 0, paren = 0, ex;
	char c;

	for (i = 0; i <= len; i++) {
		c = i < len ? value[i] : ',';
		if (c == '\r' || c == '\n')
			c = ' ';
		if (quote) {
			if (c == '\\' && i + 1 < len)
				item[n++] = value[++i];
			else if (c == '"')
				quote = 0;
			else
				item[n++] = c;
			continue;
		}
		if (paren) {
			if (c == '(')
				paren++;
			else if (c == ')')
				paren--;
			continue;
		}
		if (c == '"') {
			quote = 1;
			continue;
		}
		if (c == '(') {
			paren = 1;
			continue;
		}
		if (c == '<')
			angle = 1;
		else if (c == '>')
			angle = 0;
		if (c == ':' && !angle) {
			n = 0;		/* a group's name */
			continue;
		}
		if ((c == ',' || c == ';') && !angle) {
			item[n] = '\0';
			if (strspn(item, " \t") != n &&
			    sendmail_add_rcpt(sm, item, why, sizeof(why),
			    &ex) == 0)
				sendmail_fail(ex, "%s; nothing was sent", why);
			n = 0;
			continue;
		}
		item[n++] = c;
	}
	free(item);
}

/* -t: the recipients of Resent-To/Cc/Bcc when there are any, else of
   To/Cc/Bcc. */
static void
sendmail_extract(struct sendmail *sm, const char *msg,
    const struct sendmail_header *h)
{
	static const char *const plain[] = { "To", "Cc", "Bcc", NULL };
	static const char *const resent[] = { "Resent-To", "Resent-Cc",
	    "Resent-Bcc", NULL };
	const char *const *names = plain;
	const struct sendmail_field *f;
	size_t i, j;

	for (i = 0; i < h->n; i++)
		for (j = 0; resent[j] != NULL; j++)
			if (sendmail_field_is(msg, &h->f[i], resent[j]))
				names = resent;
	for (i = 0; i < h->n; i++) {
		f = &h->f[i];
		for (j = 0; names[j] != NULL; j++)
			if (sendmail_field_is(msg, f, names[j]))
				sendmail_addr_list(sm, msg + f->start +
				    f->namelen + 1, f->len - f->namelen - 1);
	}
}

/*
 * The message as stored: our Received, the header fields given (less
 * Bcc, Resent-Bcc and Return-Path), the missing Date, Message-ID and
 * From, an empty line, the body.
 */
static char *
sendmail_build(struct sendmail *sm, const char *msg, size_t len,
    size_t *len_r)
{
	struct sendmail_header h;
	const struct sendmail_field *f;
	int has_date = 0, has_msgid = 0, has_from = 0;
	char date[64], *out, *name, *p;
	const char *fn, *s;
	struct tm tm;
	time_t now = time(NULL);
	size_t i, cap, n = 0;
	int w;

	sendmail_parse_header(msg, len, &h);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	fn = sm->fullname != NULL ? sm->fullname : sm->gecos;
	/* The full name as a quoted string. */
	name = xmalloc(2 * SENDMAIL_NAME_MAX + 3);
	p = name;
	for (s = fn; *s != '\0' && s - fn < SENDMAIL_NAME_MAX; s++) {
		if ((unsigned char)*s < 32 || *s == 127)
			continue;
		if (*s == '"' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	*p = '\0';
	cap = len + 2 * STORE_ADDRESS_MAX + 2 * SENDMAIL_NAME_MAX + 1024;
	out = xmalloc(cap);
	w = snprintf(out, cap, "Received: by %s (Vellum sendmail, from "
	    "userid %lu)\n\tid %s; %s\n", sm->cfg.hostname,
	    (unsigned long)sm->uid, sm->qid, date);
	n = (size_t)w;
	for (i = 0; i < h.n; i++) {
		f = &h.f[i];
		if (sendmail_field_is(msg, f, "Bcc") ||
		    sendmail_field_is(msg, f, "Resent-Bcc") ||
		    sendmail_field_is(msg, f, "Return-Path"))
			continue;
		has_date |= sendmail_field_is(msg, f, "Date");
		has_msgid |= sendmail_field_is(msg, f, "Message-ID");
		has_from |= sendmail_field_is(msg, f, "From");
		memcpy(out + n, msg + f->start, f->len);
		n += f->len;
	}
	if (!has_date)
		n += (size_t)snprintf(out + n, cap - n, "Date: %s\n", date);
	if (!has_msgid)
		n += (size_t)snprintf(out + n, cap - n, "Message-ID: <%04d%02d"
		    "%02d%02d%02d%02d.%s@%s>\n", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec, sm->qid, sm->cfg.hostname);
	if (!has_from) {
		const char *from = sm->sender[0] != '\0' ? sm->sender :
		    sm->own;

		if (name[0] != '\0')
			n += (size_t)snprintf(out + n, cap - n, "From: \"%s\" "
			    "<%s>\n", name, from);
		else
			n += (size_t)snprintf(out + n, cap - n, "From: %s\n",
			    from);
	}
	out[n++] = '\n';
	memcpy(out + n, msg + h.end, len - h.end);
	n += len - h.end;
	free(h.f);
	free(name);
	*len_r = n;
	return out;
}

/*
 * Delivers msg (as built) to the recipients: one job, all or nothing.
 * Returns an exit code; why says what went wrong.
 */
static int
sendmail_deliver(struct sendmail *sm, const char *msg, size_t len,
    char *why, size_t whysize)
{
	struct deliver_job job, *jobs[1];
	unsigned waited = 0;
	size_t i;
	int rc;

	memset(&job, 0, sizeof(job));
	job.sender = sm->sender;
	job.data = msg;
	job.len = len;
	job.rcpts = sm->rcpts;
	job.nrcpts = sm->nrcpts;
	job.all_or_nothing = 1;
	job.queue_id = sm->qid_num;
	job.envid = sm->envid;
	job.ret = sm->ret;
	job.bcc = 1;		/* the automatic BCC rules apply */
	jobs[0] = &job;
	for (;;) {
		job.busy = 0;
		rc = deliver_run(sm->store, &sm->dcfg, jobs, 1);
		if (rc == -1 || !job.busy)
			break;
		if (waited >= SENDMAIL_BUSY_MAX_MS) {
			deliver_wait_end(sm->store, &job);
			snprintf(why, whysize, "a recipient's mailbox is busy; "
			    "try again later");
			return EX_TEMPFAIL;
		}
		usleep(SENDMAIL_BUSY_STEP_MS * 1000);
		waited += SENDMAIL_BUSY_STEP_MS;
	}
	for (i = 0; i < sm->nrcpts; i++) {
		if (sm->rcpts[i].code == 250)
			continue;
		snprintf(why, whysize, "%d %s", sm->rcpts[i].code,
		    sm->rcpts[i].text);
		return rc == -1 ? EX_TEMPFAIL :
		    sendmail_code_exit(sm->rcpts[i].code);
	}
	if (rc == -1) {
		snprintf(why, whysize, "store error: %s", err_msg());
		return EX_TEMPFAIL;
	}
	log_info("id=%s from=<%s> uid=%lu size=%zu rcpts=%zu delivered",
	    sm->qid, sm->sender, (unsigned long)sm->uid, len, sm->nrcpts);
	if (sm->verbose)
		for (i = 0; i < sm->nrcpts; i++)
			fprintf(stderr, "%s: <%s>: %s %s\n", SENDMAIL_NAME,
			    sm->rcpts[i].addr, sm->rcpts[i].relay ? "queued" :
			    "delivered", sm->rcpts[i].text);
	return EX_OK;
}

/* -bm: the envelope from the options (and -t), the message from stdin. */
static int
sendmail_submit(struct sendmail *sm)
{
	struct sendmail_header h;
	char why[DELIVER_TEXT_MAX + 64], *msg, *out;
	size_t len, outlen;
	int i, rc, ex;

	if (sm->from != NULL) {
		if (sendmail_qualify(sm, sm->from, sm->sender,
		    sizeof(sm->sender)) == -1)
			sendmail_usage("-f %s: not an address", sm->from);
		if (!sendmail_sender_ok(sm, sm->sender))
			sendmail_fail(EX_NOPERM, "user %s may not send as <%s> "
			    "(only as <%s>; [sendmail] trusted users may use "
			    "any -f)", sm->login, sm->sender, sm->own);
	} else
		snprintf(sm->sender, sizeof(sm->sender), "%s", sm->own);
	if (!sm->extract && sm->nargs == 0)
		sendmail_usage("no recipients: give them as arguments, or -t "
		    "to take them from the message");
	if ((msg = sendmail_read(sm, &len)) == NULL)
		sendmail_fail(EX_DATAERR, "the message is larger than %u bytes "
		    "([smtpd] max_message_size); nothing was sent",
		    sm->cfg.smtpd_max_message_size);
	/* An mbox envelope line ("From sender date") is not the message. */
	if (len >= 5 && memcmp(msg, "From ", 5) == 0) {
		const char *nl = memchr(msg, '\n', len);
		size_t skip = nl != NULL ? (size_t)(nl - msg) + 1 : len;

		memmove(msg, msg + skip, len - skip);
		len -= skip;
	}
	sendmail_open(sm);
	sendmail_new_qid(sm);
	for (i = 0; i < sm->nargs; i++)
		if (sendmail_add_rcpt(sm, sm->args[i], why, sizeof(why),
		    &ex) == 0)
			sendmail_fail(ex, "%s; nothing was sent", why);
	if (sm->extract) {
		sendmail_parse_header(msg, len, &h);
		sendmail_extract(sm, msg, &h);
		free(h.f);
	}
	if (sm->nrcpts == 0)
		sendmail_usage("no recipient addresses found in the message "
		    "header");
	if (smtp_count_received(msg, len) >= sm->cfg.smtpd_max_hops)
		sendmail_fail(EX_DATAERR, "too many Received: header fields "
		    "(%u, a mail loop?); nothing was sent",
		    sm->cfg.smtpd_max_hops);
	out = sendmail_build(sm, msg, len, &outlen);
	free(msg);
	rc = sendmail_deliver(sm, out, outlen, why, sizeof(why));
	free(out);
	if (rc != EX_OK)
		sendmail_fail(rc, "%s; nothing was sent", why);
	return EX_OK;
}

/* -bs ------------------------------------------------------------------ */

static void	sendmail_reply(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));

static void
sendmail_reply(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputs("\r\n", stdout);
	fflush(stdout);
}

/*
 * One line from stdin without its line end (LF or CRLF), at most max
 * bytes (longer: *toolong_r and the rest of the line is dropped).  NULL
 * at the end of the input.
 */
static char *
sendmail_line(char *buf, size_t max, size_t *len_r, int *toolong_r)
{
	size_t n = 0;
	int c;

	*toolong_r = 0;
	while ((c = getc_unlocked(stdin)) != EOF && c != '\n') {
		if (n < max)
			buf[n++] = (char)c;
		else
			*toolong_r = 1;
	}
	if (c == EOF && n == 0)
		return NULL;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*len_r = n;
	return buf;
}

/*
 * DATA: lines up to ".", fed to smtpd's parser (so dot-unstuffing and
 * the end are smtpd's) as CRLF lines, stored as LF.  Returns the message
 * or NULL at the end of the input; *toobig_r / *toolong_r when it was
 * too large or had a line over SMTP_DATA_LINE_MAX.
 */
static char *
sendmail_smtp_data(struct sendmail *sm, size_t *len_r, int *toobig_r,
    int *toolong_r)
{
	struct smtp_data d;
	char *line, *msg = NULL, *out;
	size_t len, outlen, used, mlen = 0, cap = 0, i;
	int toolong, done = 0;

	*toobig_r = *toolong_r = 0;
	line = xmalloc(SMTP_DATA_LINE_MAX + 3);
	out = xmalloc(SMTP_DATA_OUT_MAX(SMTP_DATA_LINE_MAX + 3));
	smtp_data_init(&d, sm->cfg.smtpd_max_message_size);
	while (!done) {
		if (sendmail_line(line, SMTP_DATA_LINE_MAX, &len,
		    &toolong) == NULL) {
			free(line);
			free(out);
			free(msg);
			return NULL;
		}
		*toolong_r |= toolong;
		line[len++] = '\r';
		line[len++] = '\n';
		done = smtp_data_feed(&d, line, len, out, &outlen, &used);
		if (mlen + outlen > cap) {
			cap = (mlen + outlen) * 2 + 4096;
			msg = xreallocarray(msg, cap, 1);
		}
		/* CRLF -> LF */
		for (i = 0; i < outlen; i++) {
			if (out[i] == '\r' && i + 1 < outlen &&
			    out[i + 1] == '\n')
				continue;
			msg[mlen++] = out[i];
		}
	}
	free(line);
	free(out);
	*toobig_r = d.toobig;
	*toolong_r |= d.toolong;
	*len_r = mlen;
	return msg;
}

/* The -bs dialogue: one transaction at a time, a command table. */
struct sendmail_bs;
static void	bs_reset(struct sendmail_bs *);

struct sendmail_bs {
	struct sendmail	*sm;
	int		 in_mail;	/* MAIL accepted */
	unsigned	 bad;		/* refused commands */
	int		 done;		/* QUIT, or the input ended */
};

typedef void sendmail_bs_fn(struct sendmail_bs *, const struct smtp_cmd *);

static sendmail_bs_fn	bs_hello, bs_mail, bs_rcpt, bs_data, bs_rset,
			bs_noop, bs_quit;

static const struct {
	const char	*verb;
	sendmail_bs_fn	*fn;
} sendmail_bs_cmds[] = {
	{ "EHLO", bs_hello },
	{ "HELO", bs_hello },
	{ "MAIL", bs_mail },
	{ "RCPT", bs_rcpt },
	{ "DATA", bs_data },
	{ "RSET", bs_rset },
	{ "NOOP", bs_noop },
	{ "QUIT", bs_quit },
	{ NULL, NULL },
};

static void	bs_fail(struct sendmail_bs *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

/* A refused command: its reply, and one more toward the limit. */
static void
bs_fail(struct sendmail_bs *bs, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputs("\r\n", stdout);
	fflush(stdout);
	bs->bad++;
}

static void
bs_reset(struct sendmail_bs *bs)
{
	sendmail_clear_rcpts(bs->sm);
	bs->in_mail = 0;
}

static void
bs_hello(struct sendmail_bs *bs, const struct smtp_cmd *cmd)
{
	const struct config *cf = &bs->sm->cfg;

	if (cmd->args[0] == '\0') {
		bs_fail(bs, "501 5.5.4 Syntax: %s hostname", cmd->verb);
		return;
	}
	bs_reset(bs);
	if (strcmp(cmd->verb, "HELO") == 0)
		sendmail_reply("250 %s", cf->hostname);
	else
		sendmail_reply("250-%s\r\n250-PIPELINING\r\n250-SIZE %u\r\n"
		    "250-8BITMIME\r\n250 ENHANCEDSTATUSCODES", cf->hostname,
		    cf->smtpd_max_message_size);
}

static void
bs_mail(struct sendmail_bs *bs, const struct smtp_cmd *cmd)
{
	struct sendmail *sm = bs->sm;
	struct smtp_path_args a;

	if (bs->in_mail) {
		bs_fail(bs, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (smtp_parse_mail(cmd->args, &a) == -1) {
		bs_fail(bs, "%s %s", smtp_perr_reply(a.perr, 0), err_msg());
		return;
	}
	if (a.has_size && a.size > sm->cfg.smtpd_max_message_size) {
		sendmail_reply("552 5.3.4 Message size exceeds fixed maximum "
		    "message size (%u bytes)", sm->cfg.smtpd_max_message_size);
		return;
	}
	sm->sender[0] = '\0';
	if (a.addr[0] != '\0' && sendmail_qualify(sm, a.addr, sm->sender,
	    sizeof(sm->sender)) != 1) {
		bs_fail(bs, "501 5.1.7 Bad sender address syntax");
		return;
	}
	if (!sendmail_sender_ok(sm, sm->sender)) {
		bs_fail(bs, "553 5.7.1 <%s>: Sender address rejected: not "
		    "owned by user %s", sm->sender, sm->login);
		return;
	}
	sendmail_new_qid(sm);
	bs->in_mail = 1;
	sendmail_reply("250 2.1.0 Ok");
}

static void
bs_rcpt(struct sendmail_bs *bs, const struct smtp_cmd *cmd)
{
	char why[DELIVER_TEXT_MAX + 64];
	struct smtp_path_args a;
	int ex;

	if (!bs->in_mail) {
		bs_fail(bs, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (smtp_parse_rcpt(cmd->args, &a) == -1) {
		bs_fail(bs, "%s %s", smtp_perr_reply(a.perr, 1), err_msg());
		return;
	}
	if (sendmail_add_rcpt(bs->sm, a.postmaster ? "postmaster" : a.addr,
	    why, sizeof(why), &ex) == 1)
		sendmail_reply("250 2.1.5 Ok");
	else
		sendmail_reply("%s", why);
}

static void
bs_data(struct sendmail_bs *bs, const struct smtp_cmd *cmd)
{
	struct sendmail *sm = bs->sm;
	char why[DELIVER_TEXT_MAX + 64], *msg, *out;
	size_t len, outlen;
	int toobig, toolong, rc;

	if (!bs->in_mail || sm->nrcpts == 0) {
		bs_fail(bs, "503 5.5.1 Error: need %s command", bs->in_mail ?
		    "RCPT" : "MAIL");
		return;
	}
	if (cmd->args[0] != '\0') {
		bs_fail(bs, "501 5.5.4 Syntax: DATA");
		return;
	}
	sendmail_reply("354 End data with <CR><LF>.<CR><LF>");
	if ((msg = sendmail_smtp_data(sm, &len, &toobig, &toolong)) == NULL) {
		bs->done = 1;		/* the input ended: nothing sent */
		return;
	}
	if (toobig)
		sendmail_reply("552 5.3.4 Error: message too big (over %u "
		    "bytes)", sm->cfg.smtpd_max_message_size);
	else if (toolong)
		sendmail_reply("554 5.6.0 Error: a line of the message is "
		    "longer than %d bytes", SMTP_DATA_LINE_MAX);
	else if (smtp_count_received(msg, len) >= sm->cfg.smtpd_max_hops)
		sendmail_reply("554 5.4.6 Too many hops");
	else {
		out = sendmail_build(sm, msg, len, &outlen);
		rc = sendmail_deliver(sm, out, outlen, why, sizeof(why));
		free(out);
		if (rc == EX_OK)
			sendmail_reply("250 2.0.0 Ok: queued as %s", sm->qid);
		else if (why[0] >= '2' && why[0] <= '5')
			sendmail_reply("%s", why);
		else
			sendmail_reply("451 4.3.0 %s", why);
	}
	free(msg);
	bs_reset(bs);
}

static void
bs_rset(struct sendmail_bs *bs, const struct smtp_cmd *cmd)
{
	bs_reset(bs);
	sendmail_reply("250 2.0.0 Ok");
}

static void
bs_noop(struct sendmail_bs *bs, const struct smtp_cmd *cmd)
{
	sendmail_reply("250 2.0.0 Ok");
}

static void
bs_quit(struct sendmail_bs *bs, const struct smtp_cmd *cmd)
{
	sendmail_reply("221 2.0.0 Bye");
	bs->done = 1;
}

/* -bs: SMTP on stdin/stdout.  Exit 0 unless the setup failed. */
static int
sendmail_smtp(struct sendmail *sm)
{
	char line[SENDMAIL_BS_LINE_MAX + 1];
	struct sendmail_bs bs;
	struct smtp_cmd cmd;
	size_t len, i;
	int toolong;

	memset(&bs, 0, sizeof(bs));
	bs.sm = sm;
	sendmail_open(sm);
	sendmail_reply("220 %s ESMTP Vellum sendmail", sm->cfg.hostname);
	while (!bs.done && sendmail_line(line, sizeof(line) - 1, &len,
	    &toolong) != NULL) {
		if (toolong)
			bs_fail(&bs, "500 5.5.2 Error: line too long");
		else if (smtp_parse_line(line, len, &cmd) == -1)
			bs_fail(&bs, "500 5.5.2 Error: %s", err_msg());
		else {
			for (i = 0; sendmail_bs_cmds[i].verb != NULL; i++)
				if (strcmp(sendmail_bs_cmds[i].verb,
				    cmd.verb) == 0)
					break;
			if (sendmail_bs_cmds[i].verb != NULL)
				sendmail_bs_cmds[i].fn(&bs, &cmd);
			else
				bs_fail(&bs, "502 5.5.2 Error: command not "
				    "recognized");
		}
		if (bs.bad >= SENDMAIL_BS_BAD_MAX) {
			sendmail_reply("421 4.7.0 %s Error: too many errors",
			    sm->cfg.hostname);
			break;
		}
	}
	sendmail_clear_rcpts(sm);
	return EX_OK;
}

/*
 * -bp (mailq): `vellumctl queue list`, the same listing, run from the
 * directory of this program when it is there, else from PATH (not when
 * set-id).
 */
static int
sendmail_mailq(struct sendmail *sm, const char *argv0)
{
	char self[PATH_MAX], ctl[PATH_MAX + 16], *slash;
	const char *argv[8];
	ssize_t n;
	int i = 0;

	argv[i++] = "vellumctl";
	if (sm->cfg.path[0] != '\0') {
		argv[i++] = "-c";
		argv[i++] = sm->cfg.path;
	} else {
		argv[i++] = "-d";
		argv[i++] = sm->cfg.data_dir;
	}
	argv[i++] = "queue";
	argv[i++] = "list";
	argv[i] = NULL;
	fflush(stdout);
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			slash[1] = '\0';
			snprintf(ctl, sizeof(ctl), "%svellumctl", self);
			execv(ctl, (char *const *)argv);
		}
	}
	/* Set-id, a vellumctl from the caller's PATH would get our group. */
	if (!sendmail_setid())
		execvp("vellumctl", (char *const *)argv);
	sendmail_fail(EX_UNAVAILABLE, "%s: cannot run vellumctl: %s", argv0,
	    strerror(errno));
}

int
main(int argc, char **argv)
{
	static struct sendmail sm;
	const char *base;

	log_init(SENDMAIL_NAME, LOG_TO_STDERR, 0);
	sm.mode = SM_DELIVER;
	sm.dot_ends = 1;
	base = strrchr(argv[0], '/') != NULL ? strrchr(argv[0], '/') + 1 :
	    argv[0];
	if (strcmp(base, "mailq") == 0)
		sm.mode = SM_MAILQ;
	else if (strcmp(base, "newaliases") == 0)
		sm.mode = SM_NEWALIASES;
	sendmail_options(&sm, argc, argv);
	sendmail_config(&sm);
	if (sm.cfg.log_syslog)
		log_init(SENDMAIL_NAME, LOG_TO_SYSLOG, sm.verbose ? 2 : 1);
	else
		log_init(SENDMAIL_NAME, LOG_TO_STDERR, sm.verbose ? 1 : 0);
	sendmail_caller(&sm);
	switch (sm.mode) {
	case SM_NEWALIASES:
		printf("%s: aliases live in the store: `vellumctl addr "
		    "add|del|list|import` manage them; nothing to rebuild\n",
		    base);
		return EX_OK;
	case SM_QUEUE_RUN:
		return sendmail_queue_run(&sm);
	case SM_MAILQ:
		return sendmail_mailq(&sm, base);
	case SM_SMTP:
		return sendmail_smtp(&sm);
	case SM_DELIVER:
		break;
	}
	return sendmail_submit(&sm);
}
