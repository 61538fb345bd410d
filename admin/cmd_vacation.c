/*
 * cmd_vacation.c - vellumctl vacation set|get|off|del: a user's
 * auto-responder (store/vacation.h).
 *
 * Dates are read in local time (YYYY-MM-DD, YYYY-MM-DDTHH:MM) or as
 * @SECONDS since the epoch, and shown in UTC as the other commands do.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/vacation.h"

#include "ctl.h"

struct vac_args {
	const char		*address;
	uint32_t		 user;
	struct store_vacation	 v;
	int			 disable;	/* off */
};

static int	cmd_vacation_date(const char *, int64_t *);
static int	cmd_vacation_read(const char *, char **);
static int	cmd_vacation_user(struct ctl *, struct vac_args *);
static int	cmd_vacation_set_txn(struct store_txn *, void *);
static int	cmd_vacation_get_txn(struct store_txn *, void *);
static int	cmd_vacation_del_txn(struct store_txn *, void *);
static int	cmd_vacation_set(struct ctl *, int, char **);
static int	cmd_vacation_get(struct ctl *, const char *);
static int	cmd_vacation_off_del(struct ctl *, const char *, int);
static void	cmd_vacation_json(const struct vac_args *);
static void	cmd_vacation_text(const struct vac_args *);

/*
 * YYYY-MM-DD (midnight), YYYY-MM-DDTHH:MM (local time) or @SECONDS.
 * 0, or -1 (INVALID).
 */
static int
cmd_vacation_date(const char *s, int64_t *r)
{
	struct tm tm;
	const char *end;
	char *e;
	long long n;

	if (s[0] == '@') {
		errno = 0;
		n = strtoll(s + 1, &e, 10);
		if (errno != 0 || e == s + 1 || *e != '\0' || n < 0)
			return err_set(ERR_INVALID, "'%s' is not @SECONDS", s);
		*r = n;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end != NULL && strlen(s) == 10 && *end == '\0')
		;
	else if (end != NULL && strlen(s) == 16 && *end == 'T' &&
	    (end = strptime(end + 1, "%H:%M", &tm)) != NULL && *end == '\0')
		;
	else
		return err_set(ERR_INVALID, "'%s' is not a date: write "
		    "YYYY-MM-DD, YYYY-MM-DDTHH:MM (local time) or @SECONDS",
		    s);
	tm.tm_isdst = -1;
	if ((*r = (int64_t)mktime(&tm)) < 0)
		return err_set(ERR_INVALID, "'%s' is before 1970", s);
	return 0;
}

/* The bytes of file ("-": stdin), at most STORE_VACATION_BODY_MAX. */
static int
cmd_vacation_read(const char *file, char **r)
{
	FILE *fp = stdin;
	char *buf;
	size_t n;

	if (strcmp(file, "-") != 0 && (fp = fopen(file, "rb")) == NULL)
		return err_set(ERR_NOTFOUND, "%s: %s", file, strerror(errno));
	buf = xmalloc(STORE_VACATION_BODY_MAX + 2);
	n = fread(buf, 1, STORE_VACATION_BODY_MAX + 1, fp);
	if (ferror(fp)) {
		err_set(ERR_TEMP, "%s: %s", file, strerror(errno));
		goto fail;
	}
	if (n > STORE_VACATION_BODY_MAX) {
		err_set(ERR_INVALID, "%s: more than %d bytes", file,
		    STORE_VACATION_BODY_MAX);
		goto fail;
	}
	if (memchr(buf, '\0', n) != NULL) {
		err_set(ERR_INVALID, "%s: holds a NUL byte", file);
		goto fail;
	}
	buf[n] = '\0';
	if (fp != stdin)
		fclose(fp);
	*r = buf;
	return 0;
fail:
	if (fp != stdin)
		fclose(fp);
	free(buf);
	return -1;
}

static int
cmd_vacation_user(struct ctl *ctl, struct vac_args *a)
{
	int rc;

	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return -1;
	if ((rc = ctl_user_find(ctl, a->address, &a->user)) == 1)
		return 0;
	if (rc == 0)
		ctl_failx("no user %s", a->address);
	else
		ctl_fail(NULL, "vacation: looking up %s", a->address);
	return -1;
}

static int
cmd_vacation_get_txn(struct store_txn *txn, void *arg)
{
	struct vac_args *a = arg;

	store_vacation_clear(&a->v);
	return store_vacation_get(txn, a->user, &a->v);
}

/* set and off: a read-modify-write of the record. */
static int
cmd_vacation_set_txn(struct store_txn *txn, void *arg)
{
	struct vac_args *a = arg;
	struct store_vacation v;
	int rc;

	if ((rc = store_vacation_get(txn, a->user, &v)) == -1)
		return -1;
	if (a->disable) {
		if (rc == 0)
			return err_set(ERR_NOTFOUND, "%s has no auto-reply",
			    a->address);
		v.enabled = 0;
	} else {
		/* set says it all: what is not given takes its default. */
		if (rc == 1)
			store_vacation_clear(&v);
		v = a->v;
		v.enabled = 1;
		v.body = xstrdup(a->v.body);
	}
	rc = store_vacation_set(txn, a->user, &v);
	store_vacation_clear(&v);
	return rc;
}

static int
cmd_vacation_del_txn(struct store_txn *txn, void *arg)
{
	struct vac_args *a = arg;

	return store_vacation_delete(txn, a->user);
}

static int
cmd_vacation_set(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ "subject", 1, NULL, 0 },
		{ "body", 1, NULL, 0 },
		{ "body-file", 1, NULL, 0 },
		{ "start", 1, NULL, 0 },
		{ "end", 1, NULL, 0 },
		{ "interval", 1, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	struct vac_args a;
	struct ctl_opt *o;
	char *body = NULL, *end;
	unsigned long days;
	int n, rc;

	memset(&a, 0, sizeof(a));
	if ((rc = ctl_args(ctl, argc, argv, opts, 1, 1, &n)) != 0)
		return rc;
	a.address = argv[0];
	o = ctl_opt(opts, "subject");
	if (!o->seen)
		return ctl_usage(ctl, "--subject is needed");
	if (strlen(o->value) > STORE_VACATION_SUBJECT_MAX)
		return ctl_usage(ctl, "--subject: longer than %d bytes",
		    STORE_VACATION_SUBJECT_MAX);
	snprintf(a.v.subject, sizeof(a.v.subject), "%s", o->value);
	if (ctl_opt(opts, "body")->seen == ctl_opt(opts, "body-file")->seen)
		return ctl_usage(ctl, "give one of --body and --body-file");
	if ((o = ctl_opt(opts, "start"))->seen) {
		if (cmd_vacation_date(o->value, &a.v.start) == -1)
			return ctl_usage(ctl, "--start: %s", err_msg());
	}
	if ((o = ctl_opt(opts, "end"))->seen) {
		if (cmd_vacation_date(o->value, &a.v.end) == -1)
			return ctl_usage(ctl, "--end: %s", err_msg());
	}
	if ((o = ctl_opt(opts, "interval"))->seen) {
		errno = 0;
		days = strtoul(o->value, &end, 10);
		if (errno != 0 || end == o->value || *end != '\0' ||
		    o->value[0] == '-' || days < 1 ||
		    days > STORE_VACATION_INTERVAL_MAX)
			return ctl_usage(ctl, "--interval: '%s' is not a "
			    "number of days from 1 to %d", o->value,
			    STORE_VACATION_INTERVAL_MAX);
		a.v.interval_days = (uint32_t)days;
	}
	if ((o = ctl_opt(opts, "body"))->seen)
		body = xstrdup(o->value);
	else if (cmd_vacation_read(ctl_opt(opts, "body-file")->value,
	    &body) == -1)
		return ctl_fail(NULL, "vacation set: --body-file");
	a.v.body = body;
	if (cmd_vacation_user(ctl, &a) == -1) {
		free(body);
		return CTL_FAIL;
	}
	rc = store_write(ctl->store, cmd_vacation_set_txn, &a);
	free(body);
	if (rc < 0)
		return ctl_fail(NULL, "vacation set %s", a.address);
	ctl_done(ctl, "auto-reply of %s set and on", a.address);
	return CTL_OK;
}

static void
cmd_vacation_json(const struct vac_args *a)
{
	char t[32];

	printf("{\"address\": ");
	ctl_json_str(stdout, a->address);
	printf(", \"enabled\": %s, \"start\": ", a->v.enabled ? "true" :
	    "false");
	if (a->v.start != 0)
		ctl_json_str(stdout, ctl_time(a->v.start, t));
	else
		printf("null");
	printf(", \"end\": ");
	if (a->v.end != 0)
		ctl_json_str(stdout, ctl_time(a->v.end, t));
	else
		printf("null");
	printf(", \"interval_days\": %" PRIu32 ", \"subject\": ",
	    a->v.interval_days);
	ctl_json_str(stdout, a->v.subject);
	printf(", \"body\": ");
	ctl_json_str(stdout, a->v.body != NULL ? a->v.body : "");
	printf("}\n");
}

static void
cmd_vacation_text(const struct vac_args *a)
{
	char t[32];
	const char *body = a->v.body != NULL ? a->v.body : "";
	size_t n = strlen(body);

	printf("address:   %s\n", a->address);
	printf("state:     %s\n", a->v.enabled ? "on" : "off");
	printf("start:     %s\n", a->v.start != 0 ? ctl_time(a->v.start, t) :
	    "(now)");
	printf("end:       %s\n", a->v.end != 0 ? ctl_time(a->v.end, t) :
	    "(none)");
	printf("interval:  %" PRIu32 " day%s\n", a->v.interval_days,
	    a->v.interval_days == 1 ? "" : "s");
	printf("subject:   %s\n", a->v.subject);
	printf("body:\n%s%s", body, n > 0 && body[n - 1] != '\n' ? "\n" : "");
}

static int
cmd_vacation_get(struct ctl *ctl, const char *address)
{
	struct vac_args a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.address = address;
	if (cmd_vacation_user(ctl, &a) == -1)
		return CTL_FAIL;
	rc = store_read(ctl->store, cmd_vacation_get_txn, &a);
	if (rc < 0)
		return ctl_fail(NULL, "vacation get %s", address);
	if (rc == 0)
		return ctl_failx("%s has no auto-reply", address);
	if (ctl->json)
		cmd_vacation_json(&a);
	else
		cmd_vacation_text(&a);
	store_vacation_clear(&a.v);
	return CTL_OK;
}

static int
cmd_vacation_off_del(struct ctl *ctl, const char *address, int del)
{
	struct vac_args a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.address = address;
	a.disable = 1;
	if (cmd_vacation_user(ctl, &a) == -1)
		return CTL_FAIL;
	rc = store_write(ctl->store, del ? cmd_vacation_del_txn :
	    cmd_vacation_set_txn, &a);
	if (rc < 0)
		return ctl_fail(NULL, "vacation %s %s", ctl->verb, address);
	if (rc == 0)
		return ctl_failx("%s has no auto-reply", address);
	ctl_done(ctl, "auto-reply of %s %s", address, del ? "deleted" :
	    "off (its text is kept)");
	return CTL_OK;
}

int
cmd_vacation(struct ctl *ctl, int argc, char **argv)
{
	int n, rc;

	if (strcmp(ctl->verb, "set") == 0)
		return cmd_vacation_set(ctl, argc, argv);
	if (strcmp(ctl->verb, "get") == 0 || strcmp(ctl->verb, "off") == 0 ||
	    strcmp(ctl->verb, "del") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
			return rc;
		if (ctl->verb[0] == 'g')
			return cmd_vacation_get(ctl, argv[0]);
		return cmd_vacation_off_del(ctl, argv[0],
		    ctl->verb[0] == 'd');
	}
	return ctl_usage(ctl, "unknown command 'vacation %s'", ctl->verb);
}
