/* ctl.c - see ctl.h */
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "store/user.h"

#include "ctl.h"

struct ctl_cmd {
	const char	*noun, *verb, *args, *what;
};

static const struct ctl_cmd ctl_cmds[] = {
	{ "domain", "add", "NAME", "add a local domain" },
	{ "domain", "del", "NAME", "delete a domain without users" },
	{ "domain", "list", "", "list domains" },
	{ "domain", "alias", "ALIAS DOMAIN", "make ALIAS an alias domain of "
	    "DOMAIN" },
	{ "domain", "set", "DOMAIN sender-login-match yes|no", "authenticated "
	    "senders must send as an address of their own" },
	{ "domain", "set", "DOMAIN batv yes|no", "sign outgoing senders "
	    "(BATV prvs=) and refuse bounces without a valid tag" },
	{ "domain", "set", "DOMAIN auto-forward yes|no", "no: mail to the "
	    "domain is never forwarded outside (routes, filters)" },
	{ "domain", "policy", "DOMAIN [SETTING VALUE]...", "show or change "
	    "the outgoing policy defaults of the domain's users" },
	{ "domain", "passwd", "DOMAIN [--hash HASH|-] [--clear]", "the "
	    "password of the domain login (SMTP submission as DOMAIN: any "
	    "address of it), read from stdin" },
	{ "user", "add", "ADDRESS [--password-stdin] [--quota SIZE] "
	    "[--quota-messages N]", "create a mailbox" },
	{ "user", "del", "ADDRESS", "delete a user and all its mail" },
	{ "user", "list", "[--domain DOMAIN]", "list users (of one domain)" },
	{ "user", "show", "ADDRESS", "show one user" },
	{ "user", "passwd", "ADDRESS [--hash HASH|-]", "set the password "
	    "(one line read from stdin) or a pre-computed hash" },
	{ "user", "enable", "ADDRESS", "enable a disabled user (refused "
	    "while over quota)" },
	{ "user", "disable", "ADDRESS --reason TEXT", "disable a user" },
	{ "user", "rename", "OLD NEW", "change a user's address (same or "
	    "another domain), keeping its mail; aliases follow" },
	{ "user", "import", "FILE", "create users from a Dovecot "
	    "passwd-file or lines \"address [password|hash|- [quota]]\"" },
	{ "user", "set", "ADDRESS unix-user NAME|UID[:GID]|-", "the system "
	    "account that owns the user's file view tree (-: none)" },
	{ "user", "policy", "ADDRESS [SETTING VALUE]...", "show or change "
	    "the user's outgoing policy (limits, locks, FROM rules; VALUE -: "
	    "inherit)" },
	{ "user", "usage", "SENDER|--domain DOMAIN", "what a sender (an "
	    "address, a domain login, a trusted host's IP) or a domain's "
	    "users sent today, and their locks" },
	{ "user", "unlock", "SENDER", "end a sending lock (and start "
	    "today's counters again)" },
	{ "addr", "add", "ADDRESS TARGET... [--force]", "route an address to "
	    "targets (alias or forward)" },
	{ "addr", "del", "ADDRESS [TARGET]", "remove a route or one target" },
	{ "addr", "list", "", "list every route" },
	{ "addr", "resolve", "ADDRESS [--from SENDER] [--size SIZE]", "what "
	    "happens to mail for ADDRESS: routes, mailboxes, forwards, "
	    "transport, or the refusal" },
	{ "addr", "import", "[--replace [DOMAIN]] FILE", "add routes and "
	    "alias domains from a Postfix virtual map, all or nothing" },
	{ "addr", "export", "[FILE|-]", "write aliases, forwards and alias "
	    "domains as a Postfix virtual alias map" },
	{ "mail", "import", "ADDRESS PATH [--folder NAME]", "import a "
	    "Maildir, an mbox, a directory of messages or one message" },
	{ "mail", "export", "ADDRESS DEST [--folder NAME] "
	    "[--format maildir|mbox]", "export mail as Maildir (all folders) "
	    "or mbox (one folder)" },
	{ "mail", "list", "ADDRESS [--folder NAME]", "list the messages of a "
	    "folder" },
	{ "mail", "delete", "ADDRESS [--folder NAME] UID...|--all", "delete "
	    "messages (all or none: every UID must exist)" },
	{ "mail", "expunge", "ADDRESS --folder NAME --before DATE "
	    "[--dry-run]", "expunge messages saved before DATE (YYYY-MM-DD, "
	    "or 30d, 2w, 12h ago)" },
	{ "mailbox", "list", "ADDRESS", "folders with messages, unseen and "
	    "size" },
	{ "quota", "show", "ADDRESS", "show usage and limits" },
	{ "quota", "set", "ADDRESS SIZE [--messages N]", "set the limits (0: "
	    "unlimited)" },
	{ "quota", "report", "[--grace-days N]", "usage of every user, over "
	    "quota since, days left" },
	{ "queue", "list", "", "list the outbound queue (HOLD: held)" },
	{ "queue", "show", "ID", "an entry's envelope, recipients and "
	    "message headers" },
	{ "queue", "flush", "[ID|DOMAIN]", "try now: one entry, those with a "
	    "recipient in DOMAIN, or all" },
	{ "queue", "del", "ID...|--all", "remove queue entries without "
	    "sending them (all or none)" },
	{ "queue", "hold", "ID...|--all", "keep entries from being tried" },
	{ "queue", "release", "ID...|--all", "let held entries be tried "
	    "again" },
	{ "transport", "list", "", "how mail to each recipient domain leaves "
	    "(passwords never shown)" },
	{ "transport", "set", "DOMAIN NEXTHOP [tls=none|may|encrypt|verify] "
	    "[user=U password=P|password-file=F]", "send mail for DOMAIN "
	    "(.DOMAIN: subdomains, *: the rest) via NEXTHOP (- for its MX)" },
	{ "transport", "del", "DOMAIN", "remove a transport" },
	{ "transport", "source", "list", "source addresses by sending domain" },
	{ "transport", "source", "set DOMAIN IP [IP]", "send mail from DOMAIN "
	    "(or .DOMAIN, *) from these addresses (one IPv4, one IPv6)" },
	{ "transport", "source", "del DOMAIN", "remove source addresses" },
	{ "dkim", "keygen", "DOMAIN SELECTOR [--algorithm rsa|ed25519] "
	    "[--bits N]", "make a DKIM signing key (rsa 2048 unless told) "
	    "and print its DNS TXT record" },
	{ "dkim", "list", "[DOMAIN]", "the DKIM keys (of one domain)" },
	{ "dkim", "show", "DOMAIN SELECTOR", "print a key's DNS TXT record "
	    "again" },
	{ "dkim", "delete", "DOMAIN SELECTOR", "stop signing with a key and "
	    "delete it" },
	{ "bcc", "add", "--sender ADDR|@DOMAIN | --recipient ADDR|@DOMAIN | "
	    "--all TARGET", "copy mail from, to, or all mail to TARGET "
	    "(automatic BCC)" },
	{ "bcc", "del", "--sender ADDR|@DOMAIN | --recipient ADDR|@DOMAIN | "
	    "--all", "remove an automatic BCC rule" },
	{ "bcc", "list", "", "the automatic BCC rules" },
	{ "bcc", "import", "--sender|--recipient [--replace] FILE|-",
	    "read a Postfix sender_bcc_maps or recipient_bcc_maps file "
	    "(all or nothing; --replace: drop that kind's other rules)" },
	{ "bcc", "export", "--sender|--recipient [FILE|-]", "write the rules "
	    "of one kind as a Postfix map" },
	{ "disclaimer", "add", "NAME [--sender P] [--recipient P] "
	    "[--except-sender P]... [--except-recipient P]... "
	    "[--not-all-local] --text FILE [--html FILE]", "add a disclaimer "
	    "to the mail clients send (P: ADDR, @DOMAIN or *; rules are "
	    "tried in NAME order, the first that matches applies)" },
	{ "disclaimer", "del", "NAME", "remove a disclaimer rule" },
	{ "disclaimer", "list", "", "the disclaimer rules" },
	{ "disclaimer", "show", "NAME", "a disclaimer rule with its texts" },
	{ "acl", "add", "white|black KIND VALUE [--action reject|discard] "
	    "[--text TEXT]", "list a client (KIND ip, net), sender (sender, "
	    "domain) or recipient on port 25's white or black list" },
	{ "acl", "del", "KIND VALUE", "remove a black or white list entry" },
	{ "acl", "list", "", "the black and white list entries" },
	{ "acl", "import", "--client|--sender|--recipient [--replace] FILE|-",
	    "read a Postfix access(5) table (all or nothing; --replace: drop "
	    "that table's other entries)" },
	{ "acl", "export", "--client|--sender|--recipient [FILE|-]", "write "
	    "the entries of one table as a Postfix access(5) table" },
	{ "lock", "list", "", "list delivery and POP3 locks" },
	{ "lock", "clear", "ADDRESS|--stale", "remove the locks of an "
	    "address, or every stale lock" },
	{ "auth", "list", "", "failed logins per client address and user, "
	    "and their locks" },
	{ "auth", "unban", "ADDRESS|--all", "forget the failed logins of a "
	    "client address (lifting its locks), or of every address" },
	{ "auth", "test", "ADDRESS [PASSWORD]", "check a login as the daemons "
	    "do (password read without echo): ok, or why not" },
	{ "rate", "list", "", "hosts blocked today on port 25 for unknown "
	    "recipients" },
	{ "rate", "unblock", "HOST|--all", "lift a host's block (IPv6: its "
	    "/64), or every one" },
	{ "store", "stats", "", "sizes, dedup and compression ratios" },
	{ "store", "check", "", "verify every invariant and checksum" },
	{ "store", "backup", "DEST", "write a compacted copy of the store "
	    "into DEST/store" },
	{ "store", "optimize", "[--retrain]", "train the zstd dictionaries "
	    "when due (or now) and compress the mail again with them" },
	{ "vacation", "set", "ADDRESS --subject TEXT (--body TEXT | "
	    "--body-file FILE) [--start DATE] [--end DATE] [--interval DAYS]",
	    "turn the auto-reply on (DATE: YYYY-MM-DD, YYYY-MM-DDTHH:MM "
	    "local, @SECONDS)" },
	{ "vacation", "get", "ADDRESS", "show the auto-reply" },
	{ "vacation", "off", "ADDRESS", "turn the auto-reply off, keeping "
	    "its text" },
	{ "vacation", "del", "ADDRESS", "delete the auto-reply" },
	{ "list", "add", "LIST [--name TEXT] [--owner ADDRESS] "
	    "[--members-only yes|no] [--reply-to-list yes|no]", "create a "
	    "mailing list" },
	{ "list", "set", "LIST [--name TEXT] [--owner ADDRESS] "
	    "[--members-only yes|no] [--reply-to-list yes|no]", "change a "
	    "list's settings" },
	{ "list", "del", "LIST", "delete a list and its members" },
	{ "list", "show", "LIST", "a list's settings and members" },
	{ "list", "ls", "[DOMAIN]", "list the mailing lists" },
	{ "list", "member", "add|del LIST ADDRESS...", "add or remove "
	    "members (all or none)" },
	{ "list", "members", "LIST", "the members, one per line" },
	{ "filter", "get", "ADDRESS|--global", "print a user's filter file, "
	    "or the global one" },
	{ "filter", "set", "ADDRESS|--global FILE|-", "store a filter file "
	    "(refused when it does not parse)" },
	{ "filter", "check", "ADDRESS|--global [FILE]", "parse a file, or the "
	    "stored filter, and print the errors" },
	{ "filter", "del", "ADDRESS|--global", "delete a filter" },
	{ "config", "check", "", "check the config of -c (FILE:LINE errors)" },
	{ "config", "show", "[--all] [--secrets]", "the settings that differ "
	    "from the defaults (--all: every one), as a vellum.conf" },
	{ "reload", "", "", "make vellumd read its config again (SIGHUP)" },
	{ "who", "[list]", "[ADDRESS] [--service S]", "the logged-in "
	    "IMAP, POP3 and SMTP sessions" },
	{ "kick", "ADDRESS", "[--service S]", "close a user's sessions" },
	{ NULL, NULL, NULL, NULL },
};

void
ctl_help(FILE *fp, const char *noun)
{
	const struct ctl_cmd *c;
	char line[128];

	for (c = ctl_cmds; c->noun != NULL; c++) {
		if (noun != NULL && strcmp(noun, c->noun) != 0)
			continue;
		snprintf(line, sizeof(line), "%s %s %s", c->noun, c->verb,
		    c->args);
		if (strlen(line) > 34)
			fprintf(fp, "  %s\n  %-34s  %s\n", line, "", c->what);
		else
			fprintf(fp, "  %-34s  %s\n", line, c->what);
	}
}

int
ctl_usage(struct ctl *ctl, const char *fmt, ...)
{
	const struct ctl_cmd *c;
	va_list ap;
	int found = 0;

	fprintf(stderr, "vellumctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	for (c = ctl_cmds; c->noun != NULL; c++)
		if (strcmp(c->noun, ctl->noun) == 0 && ctl->verb != NULL &&
		    strcmp(c->verb, ctl->verb) == 0) {
			fprintf(stderr, "usage: vellumctl %s %s %s\n", c->noun,
			    c->verb, c->args);
			found = 1;
		}
	if (!found) {
		fprintf(stderr, "usage:\n");
		ctl_help(stderr, ctl->noun);
	}
	return CTL_USAGE;
}

int
ctl_fail(const char *hint, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	msg = xstrdup(err_msg());
	fprintf(stderr, "vellumctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s", msg);
	if (hint != NULL)
		fprintf(stderr, " (%s)", hint);
	fprintf(stderr, "\n");
	free(msg);
	return CTL_FAIL;
}

int
ctl_failx(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vellumctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return CTL_FAIL;
}

struct ctl_opt *
ctl_opt(struct ctl_opt *opts, const char *name)
{
	for (; opts->name != NULL; opts++)
		if (strcmp(opts->name, name) == 0)
			return opts;
	abort();
}

int
ctl_args(struct ctl *ctl, int argc, char **argv, struct ctl_opt *opts,
    int minpos, int maxpos, int *npos_r)
{
	struct ctl_opt *o;
	const char *name, *eq;
	size_t nlen;
	int i, npos = 0, noopts = 0;

	for (i = 0; i < argc; i++) {
		if (noopts || argv[i][0] != '-' || strcmp(argv[i], "-") == 0) {
			argv[npos++] = argv[i];
			continue;
		}
		if (strcmp(argv[i], "--") == 0) {
			noopts = 1;
			continue;
		}
		if (strncmp(argv[i], "--", 2) != 0)
			return ctl_usage(ctl, "unknown option %s", argv[i]);
		name = argv[i] + 2;
		eq = strchr(name, '=');
		nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
		for (o = opts; o != NULL && o->name != NULL; o++)
			if (strlen(o->name) == nlen &&
			    strncmp(o->name, name, nlen) == 0)
				break;
		if (o == NULL || o->name == NULL)
			return ctl_usage(ctl, "unknown option %s", argv[i]);
		o->seen = 1;
		if (!o->has_arg) {
			if (eq != NULL)
				return ctl_usage(ctl, "--%s takes no value",
				    o->name);
			continue;
		}
		if (eq != NULL)
			o->value = eq + 1;
		else if (i + 1 < argc)
			o->value = argv[++i];
		else
			return ctl_usage(ctl, "--%s needs a value", o->name);
	}
	if (npos < minpos)
		return ctl_usage(ctl, "missing argument");
	if (maxpos >= 0 && npos > maxpos)
		return ctl_usage(ctl, "too many arguments ('%s')",
		    argv[maxpos]);
	argv[npos] = NULL;
	*npos_r = npos;
	return CTL_OK;
}

static int	ctl_open_perm(const char *data_dir);

/*
 * Why this user cannot open the store in data_dir, when permissions are
 * the reason: the first of the data dir, its store/ directory, data.mdb
 * and lock.mdb that the user may not use as LMDB needs (directories
 * searched and read, the files read and written: even a reader writes
 * lock.mdb), named with its owner and mode.  1 printed, 0 not a
 * permission problem.
 */
static int
ctl_open_perm(const char *data_dir)
{
	static const struct {
		const char	*sub;
		int		 mode;
	} need[] = {
		{ "", X_OK },
		{ "/store", R_OK | X_OK },
		{ "/store/data.mdb", R_OK | W_OK },
		{ "/store/lock.mdb", R_OK | W_OK },
	};
	struct passwd *pw;
	struct group *gr;
	struct stat sb;
	char path[4096], owner[64], group[64], me[64];
	size_t i;

	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", data_dir, need[i].sub);
		if (access(path, need[i].mode) == 0 || errno != EACCES)
			continue;
		if ((pw = getpwuid(geteuid())) != NULL)
			snprintf(me, sizeof(me), "%s", pw->pw_name);
		else
			snprintf(me, sizeof(me), "uid %u",
			    (unsigned)geteuid());
		if (stat(path, &sb) == -1) {
			ctl_failx("permission denied: cannot reach %s (a "
			    "directory above it is closed to %s; run "
			    "vellumctl as the user that owns the store, or "
			    "as root)", path, me);
			return 1;
		}
		if ((pw = getpwuid(sb.st_uid)) != NULL)
			snprintf(owner, sizeof(owner), "%s", pw->pw_name);
		else
			snprintf(owner, sizeof(owner), "%u",
			    (unsigned)sb.st_uid);
		if ((gr = getgrgid(sb.st_gid)) != NULL)
			snprintf(group, sizeof(group), "%s", gr->gr_name);
		else
			snprintf(group, sizeof(group), "%u",
			    (unsigned)sb.st_gid);
		ctl_failx("permission denied: %s is owned by %s:%s, mode "
		    "%04o: %s cannot %s it (run vellumctl as %s%s)", path,
		    owner, group, (unsigned)(sb.st_mode & 07777), me,
		    S_ISDIR(sb.st_mode) ? "open" : "read and write", owner,
		    sb.st_uid != 0 ? " or root" : "");
		return 1;
	}
	return 0;
}

int
ctl_open(struct ctl *ctl, unsigned flags)
{
	if (ctl->store != NULL)
		return 0;
	if (store_open(ctl->data_dir, flags, &ctl->store) < 0) {
		if (ctl_open_perm(ctl->data_dir))
			return -1;
		if (err_class() == ERR_NOTFOUND)
			ctl_failx("%s (or give -d DIR / -c FILE)", err_msg());
		else
			ctl_fail("check the data dir and its permissions",
			    "cannot open the store in %s", ctl->data_dir);
		return -1;
	}
	return 0;
}

void
ctl_close(struct ctl *ctl)
{
	if (ctl->store != NULL)
		store_close(&ctl->store);
}

struct ctl_find {
	const char	*address;
	uint32_t	 id;
};

static int	ctl_find_txn(struct store_txn *, void *);

static int
ctl_find_txn(struct store_txn *txn, void *arg)
{
	struct ctl_find *f = arg;
	struct store_user u;
	int rc;

	if ((rc = store_user_find(txn, f->address, &u)) == 1)
		f->id = u.id;
	return rc;
}

int
ctl_user_find(struct ctl *ctl, const char *address, uint32_t *id_r)
{
	struct ctl_find f = { address, 0 };
	int rc;

	rc = store_read(ctl->store, ctl_find_txn, &f);
	if (rc == 1)
		*id_r = f.id;
	return rc;
}

char *
ctl_time(int64_t t, char buf[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, 32, "-");
	else
		strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

char *
ctl_read_line(FILE *fp)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if ((n = getline(&line, &cap, fp)) < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t	ctl_utf8_len(const unsigned char *p, size_t left);

static size_t
ctl_utf8_len(const unsigned char *p, size_t left)
{
	size_t n, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (left < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

void
ctl_json_strn(FILE *fp, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	size_t n;

	fputc('"', fp);
	while (p < end) {
		if (*p == '"' || *p == '\\')
			fprintf(fp, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", fp);
		else if (*p == '\r')
			fputs("\\r", fp);
		else if (*p == '\t')
			fputs("\\t", fp);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(fp, "\\u%04x", *p);
		else if ((n = ctl_utf8_len(p, (size_t)(end - p))) == 0)
			fputs("\\ufffd", fp);
		else {
			fwrite(p, 1, n, fp);
			p += n;
			continue;
		}
		p++;
	}
	fputc('"', fp);
}

void
ctl_json_str(FILE *fp, const char *s)
{
	ctl_json_strn(fp, s, strlen(s));
}

void
ctl_done(struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatalx("out of memory");
	va_end(ap);
	if (!ctl->json) {
		printf("%s\n", msg);
		free(msg);
		return;
	}
	printf("{\"command\": ");
	ctl_json_str(stdout, ctl->noun);
	printf(", \"verb\": ");
	ctl_json_str(stdout, ctl->verb);
	printf(", \"ok\": true, \"message\": ");
	ctl_json_str(stdout, msg);
	printf("}\n");
	free(msg);
}

void
ctl_progress_start(struct ctl_progress *p, const char *what, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->total = total;
	p->on = isatty(STDERR_FILENO);
}

void
ctl_progress_step(struct ctl_progress *p, uint64_t n)
{
	time_t now;
	unsigned pct, bar, i;

	p->done += n;
	if (!p->on)
		return;
	now = time(NULL);
	if (now == p->last && p->done < p->total)
		return;
	p->last = now;
	pct = p->total > 0 ? (unsigned)(p->done * 100 / p->total) : 100;
	if (pct > 100)
		pct = 100;
	bar = pct * 30 / 100;
	fprintf(stderr, "\r%s [", p->what);
	for (i = 0; i < 30; i++)
		fputc(i < bar ? '#' : ' ', stderr);
	fprintf(stderr, "] %3u%% %llu/%llu", pct, (unsigned long long)p->done,
	    (unsigned long long)p->total);
	fflush(stderr);
}

void
ctl_progress_end(struct ctl_progress *p)
{
	if (p->on && p->last != 0) {
		fprintf(stderr, "\r%*s\r", 70, "");
		fflush(stderr);
	}
}
