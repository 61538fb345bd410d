/*
 * cmd_who.c - vellumctl who [list] [ADDRESS] [--service S] and vellumctl
 * kick ADDRESS [--service S]: the logged-in sessions of the daemons and
 * closing them (common/sessreg.h says how: a registry file per daemon
 * process under DATA_DIR/run/sessions, a request file and SIGUSR2).
 *
 * Both read only those files, never the store.  kick waits up to
 * CTL_KICK_WAIT_MS for the sessions to go and says how many did.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/sessreg.h"
#include "common/xmalloc.h"

#include "ctl.h"

#define CTL_KICK_WAIT_MS	10000
#define CTL_KICK_POLL_MS	100

struct who_args {
	const char		*user;		/* NULL: everyone */
	const char		*service;	/* NULL: every service */
	struct sessreg_session	*list;
	size_t			 n;
};

static int	cmd_who_one(const struct sessreg_session *, void *);
static int	cmd_who_load(struct ctl *, struct who_args *);
static int	cmd_who_list(struct ctl *, const char *user,
		    const char *service);
static int	cmd_who_kick(struct ctl *, const char *user,
		    const char *service);
static int	cmd_who_service_ok(struct ctl *, const char *);

static int
cmd_who_one(const struct sessreg_session *s, void *arg)
{
	struct who_args *a = arg;

	if (a->user != NULL && strcasecmp(a->user, s->user) != 0)
		return 0;
	if (a->service != NULL && strcmp(a->service, s->service) != 0)
		return 0;
	a->list = xreallocarray(a->list, a->n + 1, sizeof(*a->list));
	a->list[a->n++] = *s;
	return 0;
}

static int
cmd_who_load(struct ctl *ctl, struct who_args *a)
{
	free(a->list);
	a->list = NULL;
	a->n = 0;
	if (sessreg_list(ctl->data_dir, cmd_who_one, a) == -1) {
		ctl_fail(NULL, "%s", ctl->noun);
		return -1;
	}
	return 0;
}

static int
cmd_who_service_ok(struct ctl *ctl, const char *service)
{
	if (service == NULL || strcmp(service, "imap") == 0 ||
	    strcmp(service, "pop3") == 0 || strcmp(service, "smtp") == 0)
		return 1;
	ctl_usage(ctl, "--service %s: give imap, pop3 or smtp", service);
	return 0;
}

static int
cmd_who_list(struct ctl *ctl, const char *user, const char *service)
{
	struct who_args a;
	char since[32], client[96], sess[32];
	size_t i;

	memset(&a, 0, sizeof(a));
	a.user = user;
	a.service = service;
	if (cmd_who_load(ctl, &a) == -1)
		return CTL_FAIL;
	if (ctl->json)
		printf("[");
	else if (a.n > 0)
		printf("%-32s %-7s %-28s %-10s %-20s %s\n", "USER", "SERVICE",
		    "CLIENT", "SESSION", "SINCE", "PID");
	for (i = 0; i < a.n; i++) {
		const struct sessreg_session *s = &a.list[i];

		ctl_time(s->since, since);
		snprintf(client, sizeof(client), strchr(s->ip, ':') != NULL ?
		    "[%s]:%u" : "%s:%u", s->ip, s->port);
		snprintf(sess, sizeof(sess), "conn %lu", s->conn);
		if (!ctl->json) {
			printf("%-32s %-7s %-28s %-10s %-20s %ld\n", s->user,
			    s->service, client, sess, since, (long)s->pid);
			continue;
		}
		printf("%s\n  {\"user\": ", i > 0 ? "," : "");
		ctl_json_str(stdout, s->user);
		printf(", \"service\": ");
		ctl_json_str(stdout, s->service);
		printf(", \"ip\": ");
		ctl_json_str(stdout, s->ip);
		printf(", \"port\": %u, \"session\": ", s->port);
		ctl_json_str(stdout, sess);
		printf(", \"conn\": %lu, \"since\": ", s->conn);
		ctl_json_str(stdout, since);
		printf(", \"pid\": %ld}", (long)s->pid);
	}
	if (ctl->json)
		printf("%s]\n", a.n > 0 ? "\n" : "");
	else
		printf("-- %zu session%s\n", a.n, a.n == 1 ? "" : "s");
	free(a.list);
	return CTL_OK;
}

static int
cmd_who_kick(struct ctl *ctl, const char *user, const char *service)
{
	struct who_args a;
	struct timespec ts = { 0, CTL_KICK_POLL_MS * 1000000L };
	pid_t *pids = NULL;
	size_t i, j, npids = 0, before, waited = 0;
	int rc;

	memset(&a, 0, sizeof(a));
	a.user = user;
	a.service = service;
	if (cmd_who_load(ctl, &a) == -1)
		return CTL_FAIL;
	if (a.n == 0) {
		free(a.list);
		return ctl_failx("kick %s: no session%s%s", user, service !=
		    NULL ? " of service " : "", service != NULL ? service : "");
	}
	before = a.n;
	/* one request per process */
	for (i = 0; i < a.n; i++) {
		for (j = 0; j < npids; j++)
			if (pids[j] == a.list[i].pid)
				break;
		if (j < npids)
			continue;
		pids = xreallocarray(pids, npids + 1, sizeof(*pids));
		pids[npids++] = a.list[i].pid;
		if ((rc = sessreg_kick_request(ctl->data_dir, a.list[i].pid,
		    user, service)) == -1) {
			free(pids);
			free(a.list);
			return ctl_fail(err_class() == ERR_PERM ? "run vellumctl "
			    "as the daemons' user or root" : NULL, "kick %s",
			    user);
		}
	}
	free(pids);
	/* the goodbye comes at the end of a running command: wait a bit */
	while (a.n > 0 && waited < CTL_KICK_WAIT_MS) {
		nanosleep(&ts, NULL);
		waited += CTL_KICK_POLL_MS;
		if (cmd_who_load(ctl, &a) == -1)
			return CTL_FAIL;
	}
	if (ctl->json) {
		printf("{\"user\": ");
		ctl_json_str(stdout, user);
		printf(", \"closed\": %zu, \"left\": %zu}\n", before - a.n,
		    a.n);
	} else
		printf("kick %s: %zu session%s closed%s\n", user, before - a.n,
		    before - a.n == 1 ? "" : "s", a.n > 0 ? ", some still "
		    "finish a command" : "");
	rc = a.n > 0 ? CTL_FAIL : CTL_OK;
	free(a.list);
	return rc;
}

/*
 * `who` and `kick` are nouns without verbs: ctl->verb is the first
 * argument (argv[-1]), put back in front of the others.
 */
int
cmd_who(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ "service", 1, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	const char *service;
	int n, rc, list;

	list = strcmp(ctl->noun, "who") == 0;
	if (list && strcmp(ctl->verb, "list") == 0)
		rc = ctl_args(ctl, argc, argv, opts, 0, 1, &n);
	else {
		argv--;
		argc++;
		rc = ctl_args(ctl, argc, argv, opts, list ? 0 : 1, 1, &n);
	}
	if (rc != CTL_OK)
		return rc;
	service = opts[0].seen ? opts[0].value : NULL;
	if (!cmd_who_service_ok(ctl, service))
		return CTL_USAGE;
	if (list)
		return cmd_who_list(ctl, n > 0 ? argv[0] : NULL, service);
	return cmd_who_kick(ctl, argv[0], service);
}
