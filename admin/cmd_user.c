/*
 * cmd_user.c - vellumctl user add|del|list|show|passwd|enable|disable|
 * import|set
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/size.h"
#include "common/xmalloc.h"
#include "store/domain.h"
#include "store/list.h"
#include "store/lock.h"
#include "store/user.h"

#include "ctl.h"

/* Users created per write transaction by "user import". */
#define USER_IMPORT_BATCH	200

struct user_args {
	const char		*address;
	const char		*pwhash;
	uint64_t		 quota_bytes, quota_messages;
	uint32_t		 id;
	int			 set_pw, set_disabled, disabled;
	int			 set_fs;
	uint32_t		 fs_uid, fs_gid;	/* 0: unmapped */
	int			 was_enabled;
	const char		*reason;
	struct store_user	 user;
	struct store_user	*list;
	size_t			 n;
	const char		*domain;	/* user list --domain */
	char			 dom[STORE_DOMAIN_MAX + 1];
	/* user list: the page read after the login after */
	char			 after[STORE_ADDRESS_MAX + 1];
	char			 last[STORE_ADDRESS_MAX + 1];
	int			 more;
};

/* Users read per snapshot by user list (see cmd_user_list()). */
#define USER_PAGE	1000

/* One line of an import file. */
struct user_line {
	unsigned	 lineno;
	char		*address;
	char		*pwhash;
	uint64_t	 quota, quota_messages;
	uint32_t	 fs_uid, fs_gid;	/* 0: unmapped */
	enum { UL_TODO, UL_CREATED, UL_SKIPPED, UL_FAILED } state;
	char		*error;
};

struct user_batch {
	struct user_line	*lines;
	size_t			 n;
	size_t			 failed_at;
};

static int	cmd_user_add_txn(struct store_txn *, void *);
static int	cmd_user_del_txn(struct store_txn *, void *);
static int	cmd_user_get_txn(struct store_txn *, void *);
static int	cmd_user_update_txn(struct store_txn *, void *);
static int	cmd_user_list_one(const struct store_user *, void *);
static int	cmd_user_list_txn(struct store_txn *, void *);
static int	cmd_user_batch_txn(struct store_txn *, void *);
static void	cmd_user_json(const struct ctl *, const struct store_user *);
static char	*cmd_user_permille(int64_t, char *buf, size_t size);
static void	cmd_user_grace_text(const struct ctl *,
		    const struct store_user *);
static int	cmd_user_list(struct ctl *, const char *domain);
static int	cmd_user_rename(struct ctl *, const char *from,
		    const char *to);
static int	cmd_user_show(struct ctl *, const char *address);
static int	cmd_user_import(struct ctl *, const char *path);
static int	cmd_user_modify(struct ctl *, struct user_args *,
		    const char *what);
static int	cmd_user_parse_line(char *line, struct user_line *ul);
static int	cmd_user_parse_passwd(char *line, struct user_line *ul);
static int	cmd_user_quota_rule(const char *rule, struct user_line *ul);
static int	cmd_user_over(const struct store_user *);
static int	cmd_user_set(struct ctl *, int argc, char **argv);
static int	cmd_user_id_parse(const char *, size_t, uint32_t *);
static int	cmd_user_unix_parse(const char *value, uint32_t *uid_r,
		    uint32_t *gid_r);
static const char *cmd_user_unix_name(uint32_t uid);
static int	cmd_user_over_quota(const struct store_user *);
static char	*cmd_user_bytes(uint64_t, char *buf, size_t size);

static int
cmd_user_add_txn(struct store_txn *txn, void *arg)
{
	struct user_args *a = arg;

	return store_user_add(txn, a->address, a->pwhash, a->quota_bytes,
	    a->quota_messages, &a->id);
}

static int
cmd_user_get_txn(struct store_txn *txn, void *arg)
{
	struct user_args *a = arg;
	int rc;

	if ((rc = store_user_find(txn, a->address, &a->user)) == 0)
		return err_set(ERR_NOTFOUND, "no user %s", a->address);
	return rc;
}

static int
cmd_user_del_txn(struct store_txn *txn, void *arg)
{
	struct user_args *a = arg;

	if (cmd_user_get_txn(txn, a) < 0)
		return -1;
	return store_user_del(txn, a->user.id);
}

static int
cmd_user_update_txn(struct store_txn *txn, void *arg)
{
	struct user_args *a = arg;
	struct store_user u;

	if (cmd_user_get_txn(txn, a) < 0)
		return -1;
	u = a->user;
	a->was_enabled = 0;
	if (a->set_disabled && !a->disabled) {
		if (!u.disabled) {
			a->was_enabled = 1;
			return 1;
		}
		/*
		 * Enabling an account that is still over its quota would
		 * only see it disabled again after the next delivery; the
		 * numbers say what has to go.  Within the limits, the
		 * over-quota mark (which may come from a message that did
		 * not fit) is cleared so that the grace period starts anew.
		 */
		if (cmd_user_over(&u))
			return cmd_user_over_quota(&u);
		u.over_quota_since = 0;
	}
	if (a->set_pw)
		snprintf(u.pwhash, sizeof(u.pwhash), "%s",
		    a->pwhash != NULL ? a->pwhash : "");
	if (a->set_fs) {
		u.fs_uid = a->fs_uid;
		u.fs_gid = a->fs_gid;
	}
	if (a->set_disabled) {
		u.disabled = a->disabled;
		if (a->disabled) {
			u.disabled_since = store_now();
			snprintf(u.disabled_reason, sizeof(u.disabled_reason),
			    "%s", a->reason);
		} else {
			u.disabled_since = 0;
			u.disabled_reason[0] = '\0';
		}
	}
	return store_user_update(txn, &u);
}

/* 1 when the usage is over a limit (bytes or messages). */
static int
cmd_user_over(const struct store_user *u)
{
	return !store_user_quota_fits(u, 0, 0);
}

/* "198 bytes" or "2.3M (2411724 bytes)" into buf. */
static char *
cmd_user_bytes(uint64_t n, char *buf, size_t size)
{
	char f[SIZE_FORMAT_MAX];

	size_format(n, f, sizeof(f));
	if (strspn(f, "0123456789") == strlen(f))
		snprintf(buf, size, "%" PRIu64 " bytes", n);
	else
		snprintf(buf, size, "%s (%" PRIu64 " bytes)", f, n);
	return buf;
}

/* Sets NOQUOTA with the numbers of every limit the usage is over. */
static int
cmd_user_over_quota(const struct store_user *u)
{
	char used[64], lim[64], t[32], bytes[160] = "", msgs[96] = "";

	if (u->quota_bytes != 0 && u->used_bytes > u->quota_bytes)
		snprintf(bytes, sizeof(bytes), "%s used, quota %s",
		    cmd_user_bytes(u->used_bytes, used, sizeof(used)),
		    cmd_user_bytes(u->quota_bytes, lim, sizeof(lim)));
	if (u->quota_messages != 0 && u->used_messages > u->quota_messages)
		snprintf(msgs, sizeof(msgs), "%" PRIu64 " messages, quota %"
		    PRIu64 " messages", u->used_messages, u->quota_messages);
	return err_set(ERR_NOQUOTA, "still over quota: %s%s%s%s%s",
	    bytes, bytes[0] != '\0' && msgs[0] != '\0' ? "; " : "", msgs,
	    u->over_quota_since != 0 ? "; over quota since " : "",
	    u->over_quota_since != 0 ? ctl_time(u->over_quota_since, t) :
	    "");
}

static int
cmd_user_list_one(const struct store_user *u, void *arg)
{
	struct user_args *a = arg;
	const char *at = strrchr(u->address, '@');

	if (a->dom[0] != '\0' && (at == NULL || strcmp(at + 1, a->dom) != 0))
		return 0;
	if (a->n == USER_PAGE)
		fatalx("user list: page overflow");
	a->list[a->n++] = *u;
	return 0;
}

static int
cmd_user_list_txn(struct store_txn *txn, void *arg)
{
	struct user_args *a = arg;
	struct store_domain d;
	int rc;

	a->n = 0;
	a->dom[0] = '\0';
	if (a->domain != NULL) {
		/* Users live in the real domain of an alias domain. */
		if (store_domain_normalize(a->domain, a->dom) == -1)
			return -1;
		if ((rc = store_domain_get(txn, a->dom, &d)) != 1)
			return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no domain "
			    "%s", a->dom);
		if (d.alias_of[0] != '\0')
			snprintf(a->dom, sizeof(a->dom), "%s", d.alias_of);
	}
	if ((rc = a->dom[0] != '\0' ? store_user_list_domain(txn, a->dom,
	    a->after, USER_PAGE, cmd_user_list_one, a, a->last) :
	    store_user_list_page(txn, a->after, USER_PAGE, cmd_user_list_one,
	    a, a->last)) == -1)
		return -1;
	a->more = rc;
	return 0;
}

/* "88.7%" of a per mille figure, or "no limit" (-1). */
static char *
cmd_user_permille(int64_t pm, char *buf, size_t size)
{
	if (pm < 0)
		snprintf(buf, size, "no limit");
	else
		snprintf(buf, size, "%" PRId64 ".%" PRId64 "%%", pm / 10,
		    pm % 10);
	return buf;
}

/*
 * The grace clock in words (issue 7): whether it runs, since when, when
 * the grace period ends and what happens then, and where usage stands
 * against the full mark.
 */
static void
cmd_user_grace_text(const struct ctl *ctl, const struct store_user *u)
{
	char t1[32], t2[32], b[32], m[32];
	unsigned mark = store_user_full_mark();
	int full = store_user_quota_full(u);
	int64_t ends;

	cmd_user_permille(store_user_usage_permille(u, 0), b, sizeof(b));
	cmd_user_permille(store_user_usage_permille(u, 1), m, sizeof(m));
	if (u->quota_bytes == 0 && u->quota_messages == 0)
		printf("full mark:      %u%% of a quota; no quota, never "
		    "full\n", mark);
	else
		printf("full mark:      %u%% of a quota; usage %s%s%s%s%s: %s "
		    "the mark\n", mark, u->quota_bytes != 0 ? b : "",
		    u->quota_bytes != 0 ? " of the byte quota" : "",
		    u->quota_bytes != 0 && u->quota_messages != 0 ? ", " : "",
		    u->quota_messages != 0 ? m : "", u->quota_messages != 0 ?
		    " of the message quota" : "", full ? "at or above" :
		    "below");
	switch (store_user_grace(u, (unsigned)ctl->grace_days, store_now(),
	    &ends)) {
	case STORE_GRACE_OFF:
		printf("grace clock:    not running\n");
		break;
	case STORE_GRACE_RUNS:
		printf("grace clock:    running since %s; the grace period "
		    "(%d days) ends %s: then the account is disabled if usage "
		    "is still at or above the mark (now %s), else the clock "
		    "stops\n", ctl_time(u->over_quota_since, t1),
		    ctl->grace_days, ctl_time(ends, t2),
		    full ? "at or above" : "below");
		break;
	case STORE_GRACE_DISABLE:
		printf("grace clock:    running since %s; the grace period "
		    "ended %s with usage at or above the mark: the next "
		    "delivery disables the account\n",
		    ctl_time(u->over_quota_since, t1), ctl_time(ends, t2));
		break;
	case STORE_GRACE_CLEAR:
		printf("grace clock:    running since %s; the grace period "
		    "ended %s with usage below the mark: the next delivery "
		    "stops the clock; the account is not disabled\n",
		    ctl_time(u->over_quota_since, t1), ctl_time(ends, t2));
		break;
	}
}

static void
cmd_user_json(const struct ctl *ctl, const struct store_user *u)
{
	static const char *const grace_names[] = {
		[STORE_GRACE_OFF] = "off",
		[STORE_GRACE_RUNS] = "running",
		[STORE_GRACE_DISABLE] = "ended_full",
		[STORE_GRACE_CLEAR] = "ended_not_full",
	};
	char t1[32], t2[32], t3[32];
	enum store_grace g;
	int64_t ends, pm;

	printf("{\"address\": ");
	ctl_json_str(stdout, u->address);
	printf(", \"id\": %" PRIu32 ", \"has_password\": %s, "
	    "\"quota_bytes\": %" PRIu64 ", \"quota_messages\": %" PRIu64 ", "
	    "\"used_bytes\": %" PRIu64 ", \"used_messages\": %" PRIu64 ", "
	    "\"over_quota_since\": ", u->id,
	    u->pwhash[0] != '\0' ? "true" : "false", u->quota_bytes,
	    u->quota_messages, u->used_bytes, u->used_messages);
	if (u->over_quota_since != 0)
		ctl_json_str(stdout, ctl_time(u->over_quota_since, t1));
	else
		printf("null");
	printf(", \"over_limit\": %s", cmd_user_over(u) ? "true" : "false");
	g = store_user_grace(u, (unsigned)ctl->grace_days, store_now(), &ends);
	printf(", \"full_mark\": %u, \"full\": %s, \"usage_percent_bytes\": ",
	    store_user_full_mark(), store_user_quota_full(u) ? "true" :
	    "false");
	if ((pm = store_user_usage_permille(u, 0)) < 0)
		printf("null");
	else
		printf("%" PRId64 ".%" PRId64, pm / 10, pm % 10);
	printf(", \"usage_percent_messages\": ");
	if ((pm = store_user_usage_permille(u, 1)) < 0)
		printf("null");
	else
		printf("%" PRId64 ".%" PRId64, pm / 10, pm % 10);
	printf(", \"grace_clock\": ");
	ctl_json_str(stdout, grace_names[g]);
	printf(", \"grace_ends\": ");
	if (g != STORE_GRACE_OFF)
		ctl_json_str(stdout, ctl_time(ends, t1));
	else
		printf("null");
	printf(", \"disabled\": %s, \"disabled_since\": ",
	    u->disabled ? "true" : "false");
	if (u->disabled)
		ctl_json_str(stdout, ctl_time(u->disabled_since, t2));
	else
		printf("null");
	printf(", \"disabled_reason\": ");
	ctl_json_str(stdout, u->disabled_reason);
	printf(", \"unix_user\": ");
	if (u->fs_uid != 0) {
		const char *name = cmd_user_unix_name(u->fs_uid);

		printf("{\"name\": ");
		if (name != NULL)
			ctl_json_str(stdout, name);
		else
			printf("null");
		printf(", \"uid\": %" PRIu32 ", \"gid\": %" PRIu32 "}",
		    u->fs_uid, u->fs_gid);
	} else
		printf("null");
	printf(", \"created\": ");
	ctl_json_str(stdout, ctl_time(u->created, t3));
	printf("}");
}

static int
cmd_user_list(struct ctl *ctl, const char *domain)
{
	struct user_args a;
	char q[SIZE_FORMAT_MAX], used[SIZE_FORMAT_MAX];
	size_t i, total = 0;
	int started = 0;

	memset(&a, 0, sizeof(a));
	a.domain = domain;
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	/*
	 * A page of users per snapshot, printed before the next is read:
	 * memory and read transactions stay small however many users there
	 * are (quota report does the same).
	 */
	a.list = xreallocarray(NULL, USER_PAGE, sizeof(*a.list));
	for (;;) {
		if (store_read(ctl->store, cmd_user_list_txn, &a) < 0) {
			free(a.list);
			fflush(stdout);
			return ctl_fail(err_class() == ERR_NOTFOUND ?
			    "'vellumctl domain list' shows the domains" : NULL,
			    "user list");
		}
		/* After the first read: a missing domain prints nothing. */
		if (ctl->json && !started)
			printf("[");
		started = 1;
		for (i = 0; i < a.n; i++, total++) {
			const struct store_user *u = &a.list[i];

			if (ctl->json) {
				printf("%s\n  ", total > 0 ? "," : "");
				cmd_user_json(ctl, u);
				continue;
			}
			printf("%-40s %8s / %-8s %6" PRIu64 " msgs%s%s\n",
			    u->address, size_format(u->used_bytes, used,
			    sizeof(used)), u->quota_bytes == 0 ? "unlimited" :
			    size_format(u->quota_bytes, q, sizeof(q)),
			    u->used_messages, u->disabled ? "  disabled: " :
			    "", u->disabled ? u->disabled_reason : "");
		}
		if (!a.more)
			break;
		memcpy(a.after, a.last, sizeof(a.after));
	}
	if (ctl->json)
		printf("%s]\n", total > 0 ? "\n" : "");
	free(a.list);
	return CTL_OK;
}

static int
cmd_user_show(struct ctl *ctl, const char *address)
{
	struct user_args a;
	struct store_user *u = &a.user;
	char b1[SIZE_FORMAT_MAX], t[32];

	memset(&a, 0, sizeof(a));
	a.address = address;
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_read(ctl->store, cmd_user_get_txn, &a) < 0)
		return ctl_fail(err_class() == ERR_NOTFOUND ?
		    "'vellumctl user list' shows the users" : NULL,
		    "user show %s", address);
	if (ctl->json) {
		cmd_user_json(ctl, u);
		printf("\n");
		return CTL_OK;
	}
	printf("address:        %s\n", u->address);
	printf("id:             %" PRIu32 "\n", u->id);
	printf("password:       %s\n", u->pwhash[0] != '\0' ? "set" :
	    "none (cannot log in)");
	printf("quota:          %s", u->quota_bytes == 0 ? "unlimited" :
	    size_format(u->quota_bytes, b1, sizeof(b1)));
	if (u->quota_messages != 0)
		printf(", %" PRIu64 " messages", u->quota_messages);
	printf("\nused:           %s, %" PRIu64 " messages\n",
	    size_format(u->used_bytes, b1, sizeof(b1)), u->used_messages);
	printf("over quota:     %s\n", cmd_user_over(u) ?
	    "yes (usage is over the limit)" : "no");
	cmd_user_grace_text(ctl, u);
	if (u->disabled)
		printf("state:          disabled since %s: %s\n",
		    ctl_time(u->disabled_since, t), u->disabled_reason);
	else
		printf("state:          enabled\n");
	if (u->fs_uid != 0) {
		const char *name = cmd_user_unix_name(u->fs_uid);

		printf("unix user:      %s (uid %" PRIu32 ", gid %" PRIu32
		    ")\n", name != NULL ? name : "(no such system user now)",
		    u->fs_uid, u->fs_gid);
	} else
		printf("unix user:      none\n");
	printf("created:        %s\n", ctl_time(u->created, t));
	return CTL_OK;
}

/* The system user name of uid, or NULL (the static buffer of getpwuid). */
static const char *
cmd_user_unix_name(uint32_t uid)
{
	struct passwd *pw;

	pw = getpwuid((uid_t)uid);
	return pw != NULL ? pw->pw_name : NULL;
}

/* A decimal id that fits uid_t/gid_t and is not (uid_t)-1; 0 or -1. */
static int
cmd_user_id_parse(const char *s, size_t n, uint32_t *r)
{
	unsigned long long v = 0;
	size_t i;

	if (n == 0 || n > 10)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return -1;
	*r = (uint32_t)v;
	return 0;
}

/*
 * The value of "user set ADDR unix-user VALUE": "-" (unmapped: 0, 0), a
 * system user name (its uid and primary gid), or "UID[:GID]" (without
 * GID, the primary group of UID's passwd entry).  Root is refused: its
 * ids are 0, which means unmapped, and a mail tree owned by root would
 * only be reachable by root.  0, or -1 with err set.
 */
static int
cmd_user_unix_parse(const char *value, uint32_t *uid_r, uint32_t *gid_r)
{
	struct passwd *pw;
	const char *colon;
	size_t n;

	*uid_r = *gid_r = 0;
	if (strcmp(value, "-") == 0)
		return 0;
	n = strcspn(value, ":");
	colon = value[n] == ':' ? value + n : NULL;
	if (n > 0 && strspn(value, "0123456789") == n) {
		if (cmd_user_id_parse(value, n, uid_r) < 0 ||
		    (colon != NULL && cmd_user_id_parse(colon + 1,
		    strlen(colon + 1), gid_r) < 0))
			return err_set(ERR_INVALID, "'%s' is not UID[:GID] "
			    "(decimal ids below %" PRIu32 ")", value,
			    UINT32_MAX);
		if (colon == NULL) {
			errno = 0;
			if ((pw = getpwuid((uid_t)*uid_r)) == NULL)
				return err_set(ERR_NOTFOUND, "uid %" PRIu32
				    " has no passwd entry to take a group "
				    "from: give UID:GID", *uid_r);
			*gid_r = (uint32_t)pw->pw_gid;
		}
	} else {
		if (colon != NULL || *value == '\0')
			return err_set(ERR_INVALID, "'%s' is neither a system "
			    "user name nor UID[:GID]", value);
		errno = 0;
		if ((pw = getpwnam(value)) == NULL)
			return err_set(ERR_NOTFOUND, "no system user '%s'%s%s",
			    value, errno != 0 ? ": " : "", errno != 0 ?
			    strerror(errno) : "");
		*uid_r = (uint32_t)pw->pw_uid;
		*gid_r = (uint32_t)pw->pw_gid;
	}
	if (*uid_r == 0)
		return err_set(ERR_PERM, "'%s' is root (uid 0): a mail tree "
		    "is never mapped to root (0 means unmapped; '-' removes "
		    "a mapping)", value);
	if (*gid_r == 0)
		return err_set(ERR_PERM, "'%s' has gid 0 (root's group): "
		    "give UID:GID with another group", value);
	return 0;
}

/*
 * user set ADDRESS SETTING VALUE.  Settings: unix-user (the system
 * account that owns the user's tree in the file view, vellum-fs).
 */
static int
cmd_user_set(struct ctl *ctl, int argc, char **argv)
{
	struct user_args a;
	char *what;
	int n, rc;

	memset(&a, 0, sizeof(a));
	if ((rc = ctl_args(ctl, argc, argv, NULL, 3, 3, &n)) != 0)
		return rc;
	if (strcmp(argv[1], "unix-user") != 0)
		return ctl_usage(ctl, "unknown setting '%s' (known: "
		    "unix-user)", argv[1]);
	a.address = argv[0];
	if (cmd_user_unix_parse(argv[2], &a.fs_uid, &a.fs_gid) < 0)
		return ctl_fail(err_class() == ERR_NOTFOUND ? "see getent "
		    "passwd" : NULL, "user set %s unix-user", a.address);
	a.set_fs = 1;
	if (a.fs_uid == 0)
		what = xstrdup("unix-user none (unmapped)");
	else {
		const char *name = cmd_user_unix_name(a.fs_uid);

		what = xasprintf("unix-user %s (uid %" PRIu32 ", gid %" PRIu32
		    ")", name != NULL ? name : argv[2], a.fs_uid, a.fs_gid);
	}
	if (ctl_open(ctl, STORE_NOCREATE) < 0) {
		free(what);
		return CTL_FAIL;
	}
	if (store_write(ctl->store, cmd_user_update_txn, &a) < 0) {
		free(what);
		return ctl_fail(err_class() == ERR_NOTFOUND ?
		    "'vellumctl user list' shows the users" : NULL,
		    "user set %s", a.address);
	}
	ctl_done(ctl, "user %s: %s", a.address, what);
	free(what);
	return CTL_OK;
}

/* Reads a password from stdin (one line) and hashes it. */
int
cmd_user_password(const char *address, char **hash_r)
{
	char *pw;
	int rc;

	if ((pw = ctl_read_line(stdin)) == NULL) {
		ctl_failx("no password on stdin for %s (write it as one "
		    "line, e.g. echo secret | vellumctl ...)", address);
		return -1;
	}
	if (*pw == '\0') {
		free(pw);
		ctl_failx("empty password for %s (give a non-empty line on "
		    "stdin)", address);
		return -1;
	}
	rc = store_password_hash(pw, hash_r);
	explicit_bzero(pw, strlen(pw));
	free(pw);
	if (rc < 0) {
		ctl_fail(NULL, "cannot hash the password of %s", address);
		return -1;
	}
	return 0;
}

/*
 * A pre-computed hash for "user passwd --hash" ("-": one line of stdin),
 * checked as an import checks it: a bare string is a crypt(3) hash.
 * The message of a refused one names its scheme, never the hash.
 */
int
cmd_user_hash(const char *address, const char *value, char **hash_r)
{
	char *line = NULL;
	int rc;

	if (strcmp(value, "-") == 0 &&
	    (value = line = ctl_read_line(stdin)) == NULL) {
		ctl_failx("--hash -: no hash on stdin for %s", address);
		return -1;
	}
	if (*value == '\0')
		rc = err_set(ERR_INVALID, "empty hash");
	else
		rc = store_password_import(value, STORE_PW_BARE_CRYPT, hash_r);
	if (line != NULL) {
		explicit_bzero(line, strlen(line));
		free(line);
	}
	if (rc < 0) {
		ctl_fail("vellumctl(8) lists the schemes under 'user import'",
		    "user passwd %s --hash", address);
		return -1;
	}
	return 0;
}

static int
cmd_user_modify(struct ctl *ctl, struct user_args *a, const char *what)
{
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_write(ctl->store, cmd_user_update_txn, a) < 0)
		return ctl_fail(err_class() == ERR_NOTFOUND ?
		    "'vellumctl user list' shows the users" :
		    err_class() == ERR_NOQUOTA ? "delete mail with "
		    "'vellumctl mail delete' or raise the quota with "
		    "'vellumctl quota set'" : NULL,
		    "user %s %s", ctl->verb, a->address);
	if (a->was_enabled)
		ctl_done(ctl, "user %s is not disabled: nothing to do",
		    a->address);
	else
		ctl_done(ctl, "user %s %s", a->address, what);
	return CTL_OK;
}

/*
 * "address [password|hash|- [quota]]" into ul; 1 ok, 0 blank or comment,
 * -1 with ul->error set.
 */
static int
cmd_user_parse_line(char *line, struct user_line *ul)
{
	char *f[4], *p = line, norm[STORE_ADDRESS_MAX + 1];
	int n = 0;

	while (isspace((unsigned char)*p))
		p++;
	/* "user@domain:..." before any blank: Dovecot's passwd-file. */
	if (*p != '#' && *p != '\0' && p[strcspn(p, " \t:")] == ':')
		return cmd_user_parse_passwd(p, ul);
	while (n < 4) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '#')
			break;
		f[n++] = p;
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	if (n == 0)
		return 0;
	if (n > 3) {
		ul->error = xasprintf("too many columns (expected: address "
		    "[password [quota]])");
		return -1;
	}
	if (store_address_normalize(f[0], norm, 0) < 0) {
		ul->error = xstrdup(err_msg());
		return -1;
	}
	ul->address = xstrdup(norm);
	if (n >= 3 && size_parse(f[2], &ul->quota) < 0) {
		ul->error = xstrdup(err_msg());
		return -1;
	}
	if (n >= 2 && strcmp(f[1], "-") != 0 &&
	    store_password_import(f[1], STORE_PW_BARE_PLAIN,
	    &ul->pwhash) < 0) {
		ul->error = xstrdup(err_msg());
		return -1;
	}
	return 1;
}

/*
 * A line of Dovecot's passwd-file: "user:password:uid:gid:gecos:home:
 * shell:extra fields".  The password is a hash ({SCHEME} or a bare crypt
 * string, as Dovecot's default scheme CRYPT reads it; empty: none); uid
 * and gid, when both are numbers other than 0, become the fs mapping; the
 * extra fields (separated by spaces, the rest of the line) give the quota
 * with [userdb_]quota_rule=*:storage=SIZE[:messages=N]; others (home,
 * mail, ...) have no meaning here and are ignored.  1 ok, -1 with
 * ul->error set.
 */
static int
cmd_user_parse_passwd(char *line, struct user_line *ul)
{
	char *f[7], *p = line, *extra = NULL, *tok, *save;
	char norm[STORE_ADDRESS_MAX + 1];
	uint32_t uid = 0, gid = 0;
	int n = 0;

	while (n < 7) {
		f[n++] = p;
		if ((p = strchr(p, ':')) == NULL)
			break;
		*p++ = '\0';
	}
	if (n == 7 && p != NULL)
		extra = p;
	while (n < 7)
		f[n++] = "";
	if (store_address_normalize(f[0], norm, 0) < 0) {
		ul->error = xstrdup(err_msg());
		return -1;
	}
	ul->address = xstrdup(norm);
	if (f[1][0] != '\0' && store_password_import(f[1],
	    STORE_PW_BARE_CRYPT, &ul->pwhash) < 0) {
		ul->error = xstrdup(err_msg());
		return -1;
	}
	if (cmd_user_id_parse(f[2], strlen(f[2]), &uid) == 0 &&
	    cmd_user_id_parse(f[3], strlen(f[3]), &gid) == 0 &&
	    uid != 0 && gid != 0) {
		ul->fs_uid = uid;
		ul->fs_gid = gid;
	}
	for (tok = extra != NULL ? strtok_r(extra, " \t", &save) : NULL;
	    tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
		if (strncmp(tok, "userdb_", 7) == 0)
			tok += 7;
		if (strncmp(tok, "quota_rule=", 11) == 0 &&
		    cmd_user_quota_rule(tok + 11, ul) < 0)
			return -1;
	}
	return 1;
}

/*
 * A Dovecot quota rule: "*:storage=1G", "*:messages=1000", "*:bytes=N",
 * several joined by ':'.  storage without a unit is in kilobytes, as
 * Dovecot reads it.  Rules for one mailbox ("Trash:...") and "*:ignore" /
 * "*:noquota" set nothing here.  0 ok, -1 with ul->error set.
 */
static int
cmd_user_quota_rule(const char *rule, struct user_line *ul)
{
	char *copy, *tok, *save, *end;
	uint64_t v;
	int rc = 0;

	if (strncmp(rule, "*:", 2) != 0)
		return 0;
	copy = xstrdup(rule + 2);
	for (tok = strtok_r(copy, ":", &save); tok != NULL && rc == 0;
	    tok = strtok_r(NULL, ":", &save)) {
		const char *val = strchr(tok, '=');

		if (strcmp(tok, "ignore") == 0 || strcmp(tok, "noquota") == 0)
			continue;
		if (val == NULL || val[1] == '+' || val[1] == '-' ||
		    strchr(val, '%') != NULL) {
			ul->error = xasprintf("quota rule '%s': write "
			    "storage=SIZE or messages=N (relative and "
			    "percent rules are not supported)", rule);
			rc = -1;
			break;
		}
		val++;
		if (strncmp(tok, "storage=", 8) == 0) {
			errno = 0;
			v = strtoull(val, &end, 10);
			if (end != val && *end == '\0' && errno == 0 &&
			    v <= UINT64_MAX / 1024)
				ul->quota = v * 1024;
			else if (size_parse(val, &ul->quota) < 0)
				rc = -1;
		} else if (strncmp(tok, "bytes=", 6) == 0) {
			if (size_parse(val, &ul->quota) < 0)
				rc = -1;
		} else if (strncmp(tok, "messages=", 9) == 0) {
			errno = 0;
			v = strtoull(val, &end, 10);
			if (end == val || *end != '\0' || errno != 0 ||
			    val[0] == '-') {
				err_set(ERR_INVALID, "'%s' is not a number",
				    val);
				rc = -1;
			} else
				ul->quota_messages = v;
		}
		if (rc < 0)
			ul->error = xasprintf("quota rule '%s': %s", rule,
			    err_msg());
	}
	free(copy);
	return rc;
}

/*
 * Creates the users of a batch; an existing user is skipped.  The first
 * failure aborts the transaction (failed_at says where) and the caller
 * retries that batch one user per transaction.
 */
static int
cmd_user_batch_txn(struct store_txn *txn, void *arg)
{
	struct user_batch *b = arg;
	struct store_user u;
	uint32_t id;
	size_t i;
	int rc;

	b->failed_at = b->n;
	for (i = 0; i < b->n; i++) {
		struct user_line *ul = &b->lines[i];

		if ((rc = store_user_find(txn, ul->address, &u)) < 0 ||
		    (rc == 0 && store_user_add(txn, ul->address, ul->pwhash,
		    ul->quota, ul->quota_messages, &id) < 0)) {
			b->failed_at = i;
			return -1;
		}
		if (rc == 0 && ul->fs_uid != 0) {
			if (store_user_get(txn, id, &u) != 1) {
				b->failed_at = i;
				return err_set(ERR_CORRUPT, "user %s vanished "
				    "as it was made", ul->address);
			}
			u.fs_uid = ul->fs_uid;
			u.fs_gid = ul->fs_gid;
			if (store_user_update(txn, &u) < 0) {
				b->failed_at = i;
				return -1;
			}
		}
		ul->state = rc == 1 ? UL_SKIPPED : UL_CREATED;
	}
	return 0;
}

static int
cmd_user_import(struct ctl *ctl, const char *path)
{
	FILE *fp;
	struct user_line *lines = NULL;
	struct user_batch b;
	struct ctl_progress prog;
	size_t n = 0, i, j, created = 0, skipped = 0, failed = 0;
	unsigned lineno = 0;
	char *line;
	int rc;

	if (strcmp(path, "-") == 0)
		fp = stdin;
	else if ((fp = fopen(path, "r")) == NULL)
		return ctl_failx("cannot read %s: %s", path, strerror(errno));
	if (ctl_open(ctl, STORE_NOCREATE) < 0) {
		if (fp != stdin)
			fclose(fp);
		return CTL_FAIL;
	}
	while ((line = ctl_read_line(fp)) != NULL) {
		struct user_line ul;

		lineno++;
		memset(&ul, 0, sizeof(ul));
		ul.lineno = lineno;
		rc = cmd_user_parse_line(line, &ul);
		free(line);
		if (rc == 0)
			continue;
		if (rc < 0)
			ul.state = UL_FAILED;
		lines = xreallocarray(lines, n + 1, sizeof(*lines));
		lines[n++] = ul;
	}
	if (fp != stdin)
		fclose(fp);

	ctl_progress_start(&prog, "user import", n);
	for (i = 0; i < n; i = j) {
		/* The next run of valid lines, at most one batch. */
		if (lines[i].state == UL_FAILED) {
			j = i + 1;
			ctl_progress_step(&prog, 1);
			continue;
		}
		for (j = i; j < n && j - i < USER_IMPORT_BATCH &&
		    lines[j].state != UL_FAILED; j++)
			;
		b.lines = lines + i;
		b.n = j - i;
		if (store_write(ctl->store, cmd_user_batch_txn, &b) < 0) {
			/* Find the bad ones: one user per transaction. */
			size_t k;

			for (k = i; k < j; k++) {
				b.lines = lines + k;
				b.n = 1;
				lines[k].state = UL_TODO;
				if (store_write(ctl->store,
				    cmd_user_batch_txn, &b) < 0) {
					lines[k].state = UL_FAILED;
					lines[k].error = xstrdup(err_msg());
				}
			}
		}
		ctl_progress_step(&prog, j - i);
	}
	ctl_progress_end(&prog);

	for (i = 0; i < n; i++) {
		switch (lines[i].state) {
		case UL_CREATED:
			created++;
			break;
		case UL_SKIPPED:
			skipped++;
			break;
		default:
			failed++;
			fprintf(stderr, "%s:%u: %s%s%s\n", path,
			    lines[i].lineno, lines[i].address != NULL ?
			    lines[i].address : "", lines[i].address != NULL ?
			    ": " : "", lines[i].error != NULL ?
			    lines[i].error : "not created");
			break;
		}
		free(lines[i].address);
		free(lines[i].pwhash);
		free(lines[i].error);
	}
	free(lines);
	ctl_done(ctl, "user import %s: %zu created, %zu skipped (exist), "
	    "%zu failed", path, created, skipped, failed);
	return failed > 0 ? CTL_FAIL : CTL_OK;
}

/* How long "user rename" holds the locks at most (s). */
#define USER_RENAME_LEASE	60

/* "user rename": the transaction and what it found. */
struct user_rename {
	const char	*from, *to;
	uint32_t	 id;
	char		 old[STORE_ADDRESS_MAX + 1];
	unsigned	 naliases;
	/* lists with the old address as a member: reported, not changed */
	char		 lists[512];
	unsigned	 nlists;
};

static int	cmd_user_rename_list(const struct store_list *, void *);
static int	cmd_user_rename_txn(struct store_txn *, void *);

static int
cmd_user_rename_list(const struct store_list *l, void *arg)
{
	struct user_rename *r = arg;
	char norm[STORE_ADDRESS_MAX + 1];
	size_t i, len;

	for (i = 0; i < l->nmembers; i++)
		if (store_address_normalize(l->members[i], norm, 0) == 0 &&
		    strcmp(norm, r->old) == 0) {
			len = strlen(r->lists);
			if (r->nlists++ < 10)
				snprintf(r->lists + len, sizeof(r->lists) - len,
				    "%s%s", len > 0 ? ", " : "", l->addr);
			break;
		}
	return 0;
}

static int
cmd_user_rename_txn(struct store_txn *txn, void *arg)
{
	struct user_rename *r = arg;
	struct store_user u;
	int rc;

	r->lists[0] = '\0';
	r->nlists = 0;
	if ((rc = store_user_find(txn, r->from, &u)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no user %s",
		    r->from);
	if (u.id != r->id)
		return err_set(ERR_TEMP, "%s changed while it was renamed: "
		    "try again", r->from);
	snprintf(r->old, sizeof(r->old), "%s", u.address);
	if (store_user_rename(txn, u.id, r->to, &r->naliases) == -1)
		return -1;
	return store_list_each(txn, NULL, cmd_user_rename_list, r) == -1 ?
	    -1 : 1;
}

/*
 * Daemons name a user's delivery lock and POP3 maildrop lock by its
 * address: the rename holds those of both addresses, so that it never
 * runs under a delivery or a POP3 session (which would go on under the
 * old name), and refuses while one is busy.  Logins, the login cache,
 * quota and mail go by the user's id and follow the rename by
 * themselves.
 */
static int
cmd_user_rename(struct ctl *ctl, const char *from, const char *to)
{
	struct user_rename r;
	struct user_args a;
	char norm[STORE_ADDRESS_MAX + 1], l[4][STORE_ADDRESS_MAX + 16];
	const char *names[4];
	size_t i;
	int rc;

	memset(&r, 0, sizeof(r));
	r.from = from;
	r.to = to;
	if (store_address_normalize(to, norm, 0) == -1)
		return ctl_fail(NULL, "user rename %s %s", from, to);
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	memset(&a, 0, sizeof(a));
	a.address = from;
	if (store_read(ctl->store, cmd_user_get_txn, &a) != 1)
		return ctl_fail(err_class() == ERR_NOTFOUND ? "'vellumctl user "
		    "list' shows the users" : NULL, "user rename %s", from);
	r.id = a.user.id;
	snprintf(l[0], sizeof(l[0]), "deliver:%s", a.user.address);
	snprintf(l[1], sizeof(l[1]), "pop3:%s", a.user.address);
	snprintf(l[2], sizeof(l[2]), "deliver:%s", norm);
	snprintf(l[3], sizeof(l[3]), "pop3:%s", norm);
	for (i = 0; i < 4; i++)
		names[i] = l[i];
	if ((rc = store_lock_take_many(ctl->store, names, 4,
	    USER_RENAME_LEASE)) != 1)
		return ctl_fail(rc == 0 ? "a delivery or a POP3 session is "
		    "using it: try again when it ends ('vellumctl lock list')" :
		    NULL, "user rename %s", from);
	rc = store_write(ctl->store, cmd_user_rename_txn, &r);
	(void)store_lock_release_many(ctl->store, names, 4);
	if (rc < 0)
		return ctl_fail(err_class() == ERR_EXISTS ? "choose an "
		    "address nothing uses" : NULL, "user rename %s %s", from,
		    to);
	if (r.nlists > 0)
		fprintf(stderr, "vellumctl: note: %s is still a member of %u "
		    "list%s under its old address: %s%s (change with "
		    "'vellumctl list member')\n", r.old, r.nlists,
		    r.nlists == 1 ? "" : "s", r.lists,
		    r.nlists > 10 ? ", ..." : "");
	ctl_done(ctl, "user %s renamed to %s (mail, quota and settings kept; "
	    "%u alias%s updated)", r.old, norm, r.naliases,
	    r.naliases == 1 ? "" : "es");
	return CTL_OK;
}

int
cmd_user(struct ctl *ctl, int argc, char **argv)
{
	struct user_args a;
	char *hash = NULL;
	int n, rc;

	memset(&a, 0, sizeof(a));
	if (strcmp(ctl->verb, "list") == 0) {
		struct ctl_opt lopts[] = {
			{ "domain", 1, NULL, 0 },
			{ NULL, 0, NULL, 0 },
		};

		if ((rc = ctl_args(ctl, argc, argv, lopts, 0, 0, &n)) != 0)
			return rc;
		return cmd_user_list(ctl, lopts[0].value);
	}
	if (strcmp(ctl->verb, "show") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
			return rc;
		return cmd_user_show(ctl, argv[0]);
	}
	if (strcmp(ctl->verb, "set") == 0)
		return cmd_user_set(ctl, argc, argv);
	if (strcmp(ctl->verb, "policy") == 0)
		return cmd_policy_user(ctl, argc, argv);
	if (strcmp(ctl->verb, "usage") == 0)
		return cmd_policy_usage(ctl, argc, argv);
	if (strcmp(ctl->verb, "unlock") == 0)
		return cmd_policy_unlock(ctl, argc, argv);
	if (strcmp(ctl->verb, "rename") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 2, 2, &n)) != 0)
			return rc;
		return cmd_user_rename(ctl, argv[0], argv[1]);
	}
	if (strcmp(ctl->verb, "import") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
			return rc;
		return cmd_user_import(ctl, argv[0]);
	}
	if (strcmp(ctl->verb, "add") == 0) {
		struct ctl_opt opts[] = {
			{ "password-stdin", 0, NULL, 0 },
			{ "quota", 1, NULL, 0 },
			{ "quota-messages", 1, NULL, 0 },
			{ NULL, 0, NULL, 0 },
		};
		struct ctl_opt *o;
		char *end;

		if ((rc = ctl_args(ctl, argc, argv, opts, 1, 1, &n)) != 0)
			return rc;
		a.address = argv[0];
		o = ctl_opt(opts, "quota");
		if (o->seen && size_parse(o->value, &a.quota_bytes) < 0)
			return ctl_usage(ctl, "--quota: %s", err_msg());
		o = ctl_opt(opts, "quota-messages");
		if (o->seen) {
			errno = 0;
			a.quota_messages = strtoull(o->value, &end, 10);
			if (errno != 0 || end == o->value || *end != '\0' ||
			    o->value[0] == '-')
				return ctl_usage(ctl, "--quota-messages: '%s' "
				    "is not a number", o->value);
		}
		if (ctl_open(ctl, STORE_NOCREATE) < 0)
			return CTL_FAIL;
		if (ctl_opt(opts, "password-stdin")->seen &&
		    cmd_user_password(a.address, &hash) < 0)
			return CTL_FAIL;
		a.pwhash = hash;
		rc = store_write(ctl->store, cmd_user_add_txn, &a);
		free(hash);
		if (rc < 0)
			return ctl_fail(err_class() == ERR_NOTFOUND ?
			    "add the domain first with 'vellumctl domain add'" :
			    err_class() == ERR_EXISTS ?
			    "'vellumctl user show' / 'addr list' show it" : NULL,
			    "user add %s", a.address);
		ctl_done(ctl, "user %s added%s", a.address, a.pwhash == NULL ?
		    " (no password: set one with 'vellumctl user passwd')" :
		    "");
		return CTL_OK;
	}
	if (strcmp(ctl->verb, "del") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
			return rc;
		a.address = argv[0];
		if (ctl_open(ctl, STORE_NOCREATE) < 0)
			return CTL_FAIL;
		if (store_write(ctl->store, cmd_user_del_txn, &a) < 0)
			return ctl_fail(err_class() == ERR_NOTFOUND ?
			    "'vellumctl user list' shows the users" : NULL,
			    "user del %s", a.address);
		ctl_done(ctl, "user %s deleted with all its mail", a.address);
		return CTL_OK;
	}
	if (strcmp(ctl->verb, "passwd") == 0) {
		struct ctl_opt opts[] = {
			{ "password-stdin", 0, NULL, 0 },
			{ "hash", 1, NULL, 0 },
			{ NULL, 0, NULL, 0 },
		};
		struct ctl_opt *h;

		if ((rc = ctl_args(ctl, argc, argv, opts, 1, 1, &n)) != 0)
			return rc;
		a.address = argv[0];
		h = ctl_opt(opts, "hash");
		if (h->seen && ctl_opt(opts, "password-stdin")->seen)
			return ctl_usage(ctl, "user passwd takes --hash or "
			    "--password-stdin, not both");
		if (ctl_open(ctl, STORE_NOCREATE) < 0)
			return CTL_FAIL;
		if (ctl_user_find(ctl, a.address, &a.id) <= 0)
			return ctl_fail("'vellumctl user list' shows the users",
			    "user passwd %s", a.address);
		if (h->seen && cmd_user_hash(a.address, h->value, &hash) < 0)
			return CTL_FAIL;
		if (!h->seen && cmd_user_password(a.address, &hash) < 0)
			return CTL_FAIL;
		a.pwhash = hash;
		a.set_pw = 1;
		rc = cmd_user_modify(ctl, &a, "has a new password");
		free(hash);
		return rc;
	}
	if (strcmp(ctl->verb, "enable") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
			return rc;
		a.address = argv[0];
		a.set_disabled = 1;
		a.disabled = 0;
		return cmd_user_modify(ctl, &a, "enabled");
	}
	if (strcmp(ctl->verb, "disable") == 0) {
		struct ctl_opt opts[] = {
			{ "reason", 1, NULL, 0 },
			{ NULL, 0, NULL, 0 },
		};

		if ((rc = ctl_args(ctl, argc, argv, opts, 1, 1, &n)) != 0)
			return rc;
		a.reason = ctl_opt(opts, "reason")->value;
		if (a.reason == NULL || *a.reason == '\0')
			return ctl_usage(ctl, "user disable needs --reason "
			    "TEXT (it is logged and shown)");
		if (strlen(a.reason) > STORE_REASON_MAX)
			return ctl_usage(ctl, "--reason is longer than %d "
			    "bytes", STORE_REASON_MAX);
		a.address = argv[0];
		a.set_disabled = 1;
		a.disabled = 1;
		return cmd_user_modify(ctl, &a, "disabled");
	}
	return ctl_usage(ctl, "unknown command 'user %s'", ctl->verb);
}
