/*
 * cmd_auth.c - vellumctl auth list|unban
 *
 * The failed-login records every daemon shares (store/authfail.h): one
 * per client address (user "-") and one per (address, login).  "auth
 * unban ADDRESS" forgets every record of the address, which lifts its
 * locks at once; "auth unban --all" empties the table.
 *
 * "auth test ADDRESS [PASSWORD]" checks a login as a daemon would
 * (store_user_login(): the same lookup, hash and enabled check), like
 * doveadm auth test.  Without PASSWORD it is read from the terminal
 * without echo, or as one line from stdin.  It is a test by the admin,
 * not a login from a client: it counts no failure (it never calls
 * store_authfail_record(), whose records are per client address and
 * there is none) and clears none; it reports the locks failed logins
 * from clients have put on the user.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/authfail.h"
#include "store/user.h"

#include "ctl.h"

struct auth_args {
	struct store_authfail	*list;
	size_t			 n;
};

static int	cmd_auth_list_one(const struct store_authfail *, void *);
static int	cmd_auth_list(struct ctl *);
static int	cmd_auth_unban(struct ctl *, const char *ip);
static char	*cmd_auth_password(void);
static int	cmd_auth_locks_one(const struct store_authfail *, void *);
static int	cmd_auth_test(struct ctl *, const char *login,
		    const char *password);

/* The locks failed logins put on one user, for auth test. */
struct auth_locks {
	char		user[STORE_ADDRESS_MAX + 1];
	char		ips[256];
	size_t		n;
	int64_t		until;
	int64_t		now;
};

static int
cmd_auth_list_one(const struct store_authfail *r, void *arg)
{
	struct auth_args *a = arg;

	a->list = xreallocarray(a->list, a->n + 1, sizeof(*a->list));
	a->list[a->n++] = *r;
	return 0;
}


static int
cmd_auth_list(struct ctl *ctl)
{
	struct auth_args a = { NULL, 0 };
	char t1[32], t2[32];
	time_t now = store_now();
	size_t i;

	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_authfail_list(ctl->store, cmd_auth_list_one, &a) < 0)
		return ctl_fail(NULL, "auth list");
	if (ctl->json)
		printf("[");
	for (i = 0; i < a.n; i++) {
		const struct store_authfail *r = &a.list[i];
		int locked = r->locked_until > now;

		if (ctl->json) {
			printf("%s\n  {\"address\": ", i > 0 ? "," : "");
			ctl_json_str(stdout, r->ip);
			printf(", \"user\": ");
			if (r->user[0] != '\0')
				ctl_json_str(stdout, r->user);
			else
				printf("null");
			printf(", \"failures\": %u, \"first\": ", r->failures);
			ctl_json_str(stdout, ctl_time(r->first, t1));
			printf(", \"last\": ");
			ctl_json_str(stdout, ctl_time(r->last, t2));
			printf(", \"locked_until\": ");
			if (locked)
				ctl_json_str(stdout, ctl_time(r->locked_until,
				    t1));
			else
				printf("null");
			printf("}");
			continue;
		}
		printf("%-39s %-32s %5u failures, last %s%s%s\n", r->ip,
		    r->user[0] != '\0' ? r->user : "-", r->failures,
		    ctl_time(r->last, t1), locked ? ", locked until " : "",
		    locked ? ctl_time(r->locked_until, t2) : "");
	}
	if (ctl->json)
		printf("%s]\n", a.n > 0 ? "\n" : "");
	else if (a.n == 0)
		fprintf(stderr, "no failed logins recorded\n");
	free(a.list);
	return CTL_OK;
}

static int
cmd_auth_unban(struct ctl *ctl, const char *ip)
{
	unsigned n = 0;

	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_authfail_unban(ctl->store, ip, &n) < 0)
		return ctl_fail(ip != NULL ? "give a client address as "
		    "`auth list` shows it, or --all" : NULL, "auth unban %s",
		    ip != NULL ? ip : "--all");
	if (ip != NULL && n == 0)
		ctl_done(ctl, "no failed logins recorded for %s", ip);
	else
		ctl_done(ctl, "%u record%s removed", n, n == 1 ? "" : "s");
	return CTL_OK;
}

/*
 * The password: from the terminal without echo when stdin is one, else
 * one line of stdin.  malloc'd; NULL at EOF.
 */
static char *
cmd_auth_password(void)
{
	struct termios old, noecho;
	char *line;
	int tty;

	tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	if (tty) {
		fprintf(stderr, "Password: ");
		fflush(stderr);
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
	}
	line = ctl_read_line(stdin);
	if (tty) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	return line;
}

static int
cmd_auth_locks_one(const struct store_authfail *r, void *arg)
{
	struct auth_locks *l = arg;
	size_t len;

	if (strcmp(r->user, l->user) != 0 || r->locked_until <= l->now)
		return 0;
	len = strlen(l->ips);
	if (l->n++ < 5)
		snprintf(l->ips + len, sizeof(l->ips) - len, "%s%s",
		    len > 0 ? ", " : "", r->ip);
	if (r->locked_until > l->until)
		l->until = r->locked_until;
	return 0;
}


static int
cmd_auth_test(struct ctl *ctl, const char *login, const char *password)
{
	struct store_user u;
	struct auth_locks l;
	char *pw = NULL, t[32];
	const char *why = NULL, *result;
	int rc, ok;

	if (password == NULL && (pw = cmd_auth_password()) == NULL)
		return ctl_failx("auth test %s: no password given (type it, "
		    "or give it as one line on stdin)", login);
	if (ctl_open(ctl, STORE_NOCREATE) < 0) {
		if (pw != NULL)
			explicit_bzero(pw, strlen(pw));
		free(pw);
		return CTL_FAIL;
	}
	rc = store_user_login(ctl->store, login, pw != NULL ? pw : password,
	    &u);
	if (pw != NULL)
		explicit_bzero(pw, strlen(pw));
	free(pw);
	if (rc == -1)
		return ctl_fail(NULL, "auth test %s", login);
	ok = rc == 1;
	if (!ok) {
		why = err_msg();
		result = err_class() == ERR_NOTFOUND ? "unknown user" :
		    strncmp(why, "account disabled", 16) == 0 ? "disabled" :
		    strcmp(why, "no password set") == 0 ? "no password" :
		    "wrong password";
	} else
		result = "ok";
	memset(&l, 0, sizeof(l));
	l.now = (int64_t)store_now();
	if (store_address_normalize(login, l.user, 0) == -1 ||
	    store_authfail_list(ctl->store, cmd_auth_locks_one, &l) == -1)
		l.n = 0;
	if (ok && l.n > 0)
		result = "locked";
	if (ctl->json) {
		printf("{\"login\": ");
		ctl_json_str(stdout, login);
		printf(", \"ok\": %s, \"result\": \"%s\", \"reason\": ",
		    strcmp(result, "ok") == 0 ? "true" : "false", result);
		if (why != NULL)
			ctl_json_str(stdout, why);
		else if (l.n > 0)
			ctl_json_str(stdout, "locked out by failed logins");
		else
			printf("null");
		printf(", \"user\": ");
		if (ok)
			ctl_json_str(stdout, u.address);
		else
			printf("null");
		printf(", \"locked_from\": %zu, \"locked_until\": ", l.n);
		if (l.n > 0)
			ctl_json_str(stdout, ctl_time(l.until, t));
		else
			printf("null");
		printf("}\n");
	} else if (strcmp(result, "ok") == 0)
		printf("auth test %s: ok (user %s)\n", login, u.address);
	else if (why != NULL)
		printf("auth test %s: failed: %s (%s)\n", login, result, why);
	else
		printf("auth test %s: failed: locked: the password is right, "
		    "but failed logins locked %s out from %s%s until %s "
		    "('vellumctl auth unban ADDRESS' lifts it)\n", login,
		    u.address, l.ips, l.n > 5 ? " and more" : "",
		    ctl_time(l.until, t));
	if (!ctl->json && why != NULL && l.n > 0)
		printf("  also locked out from %s%s until %s\n", l.ips,
		    l.n > 5 ? " and more" : "", ctl_time(l.until, t));
	return strcmp(result, "ok") == 0 ? CTL_OK : CTL_FAIL;
}

int
cmd_auth(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ "all", 0, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	int n, rc;

	if (strcmp(ctl->verb, "list") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 0, &n)) != 0)
			return rc;
		return cmd_auth_list(ctl);
	}
	if (strcmp(ctl->verb, "test") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 2, &n)) != 0)
			return rc;
		return cmd_auth_test(ctl, argv[0], n == 2 ? argv[1] : NULL);
	}
	if (strcmp(ctl->verb, "unban") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, opts, 0, 1, &n)) != 0)
			return rc;
		if (opts[0].seen == (n == 1))
			return ctl_usage(ctl, "give an ADDRESS or --all");
		return cmd_auth_unban(ctl, n == 1 ? argv[0] : NULL);
	}
	return ctl_usage(ctl, "unknown command 'auth %s'", ctl->verb);
}
