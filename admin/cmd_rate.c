/*
 * cmd_rate.c - vellumctl rate list|unblock
 *
 * The client hosts port 25 blocked until midnight for unknown recipients
 * ([smtpd] unknown_recipient_limit, smtpd/rate.c), as the volatile store
 * keeps them (store/rateblock.h): "rate list" shows today's, "rate
 * unblock HOST" removes one, "--all" every one.  The running daemon
 * counts in its own shared memory, which vellumctl cannot reach: a
 * connect it would refuse asks the store, finds the block gone and lets
 * the host on, so a lift takes effect at the host's next connection
 * without a restart.
 *
 * A host is what smtpd counts (conn_ip_key()): an IPv4 address, or the
 * /64 of an IPv6 one.  The admin types an address, or the /64 as the
 * list writes it; both are mapped through conn_ip_key() itself.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conn.h"
#include "common/error.h"
#include "common/xmalloc.h"
#include "store/rateblock.h"

#include "ctl.h"

struct rate_args {
	struct store_rateblock	*list;
	size_t			 n;
};

static int	cmd_rate_list_one(const struct store_rateblock *, void *);
static int	cmd_rate_list(struct ctl *);
static int	cmd_rate_host(const char *, char *);
static int	cmd_rate_unblock(struct ctl *, const char *);

static int
cmd_rate_list_one(const struct store_rateblock *r, void *arg)
{
	struct rate_args *a = arg;

	a->list = xreallocarray(a->list, a->n + 1, sizeof(*a->list));
	a->list[a->n++] = *r;
	return 0;
}

static int
cmd_rate_list(struct ctl *ctl)
{
	struct rate_args a = { NULL, 0 };
	char until[16];
	uint32_t day;
	size_t i;

	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	day = store_rateblock_day(store_now(), until, sizeof(until));
	if (store_rateblock_list(ctl->store, day, cmd_rate_list_one, &a) < 0) {
		free(a.list);
		return ctl_fail(NULL, "rate list");
	}
	if (ctl->json)
		printf("[");
	for (i = 0; i < a.n; i++) {
		const struct store_rateblock *r = &a.list[i];

		if (ctl->json) {
			printf("%s\n  {\"host\": ", i > 0 ? "," : "");
			ctl_json_str(stdout, r->host);
			printf(", \"count\": %u, \"until\": \"%s 00:00\"}", r->n,
			    until);
			continue;
		}
		printf("%-39s %5u unknown recipients, until %s 00:00\n",
		    r->host, r->n, until);
	}
	if (ctl->json)
		printf("%s]\n", a.n > 0 ? "\n" : "");
	else if (a.n == 0)
		fprintf(stderr, "no hosts blocked today\n");
	free(a.list);
	return CTL_OK;
}

/*
 * The host key (CONN_ADDR_MAX bytes) of arg: an IPv4 or IPv6 address, an
 * IPv4-mapped IPv6 one as its IPv4 (as the daemons write a peer), or
 * ADDRESS/64.  0, or -1 when arg is none of those.
 */
static int
cmd_rate_host(const char *arg, char *key)
{
	const char *slash = strchr(arg, '/');
	size_t len = slash != NULL ? (size_t)(slash - arg) : strlen(arg);
	char ip[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	struct in_addr a4;

	if (len >= sizeof(ip) || (slash != NULL && strcmp(slash, "/64") != 0))
		return -1;
	memcpy(ip, arg, len);
	ip[len] = '\0';
	if (slash == NULL && inet_pton(AF_INET, ip, &a4) == 1) {
		conn_ip_key(ip, key, CONN_ADDR_MAX);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &a6) != 1)
		return -1;
	if (slash == NULL && IN6_IS_ADDR_V4MAPPED(&a6)) {
		memcpy(&a4, &a6.s6_addr[12], sizeof(a4));
		if (inet_ntop(AF_INET, &a4, ip, sizeof(ip)) == NULL)
			return -1;
	}
	conn_ip_key(ip, key, CONN_ADDR_MAX);
	return 0;
}

static int
cmd_rate_unblock(struct ctl *ctl, const char *arg)
{
	char key[CONN_ADDR_MAX], host[CONN_ADDR_MAX + 8] = "";
	unsigned n = 0;
	uint32_t day;

	if (arg != NULL && cmd_rate_host(arg, key) == -1)
		return ctl_usage(ctl, "'%s' is not an IP address (nor an IPv6 "
		    "/64 as `rate list` writes it)", arg);
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	day = store_rateblock_day(store_now(), NULL, 0);
	if (store_rateblock_del(ctl->store, arg != NULL ? key : NULL, day,
	    &n) < 0)
		return ctl_fail(NULL, "rate unblock %s",
		    arg != NULL ? arg : "--all");
	if (arg == NULL) {
		ctl_done(ctl, "%u block%s lifted", n, n == 1 ? "" : "s");
		return CTL_OK;
	}
	if (strcmp(key, arg) != 0)
		snprintf(host, sizeof(host), " (host %s)", key);
	if (n == 0)
		return ctl_failx("rate unblock %s: not blocked today%s", arg,
		    host);
	ctl_done(ctl, "block of %s%s lifted (at its next connection)", arg,
	    host);
	return CTL_OK;
}

int
cmd_rate(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ "all", 0, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	int n, rc;

	if (strcmp(ctl->verb, "list") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 0, &n)) != 0)
			return rc;
		return cmd_rate_list(ctl);
	}
	if (strcmp(ctl->verb, "unblock") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, opts, 0, 1, &n)) != 0)
			return rc;
		if (opts[0].seen == (n == 1))
			return ctl_usage(ctl, "give a HOST or --all");
		return cmd_rate_unblock(ctl, n == 1 ? argv[0] : NULL);
	}
	return ctl_usage(ctl, "unknown command 'rate %s'", ctl->verb);
}
