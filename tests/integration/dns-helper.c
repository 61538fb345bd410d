/*
 * dns-helper - runs lookups of mta/dns.c and prints their results, for
 * test_mta_dns.py (with tests/integration/dnsserver.py as the resolver):
 *
 *   dns-helper -c CONF [-x N] [-F] [-C] mx|host NAME [mx|host NAME ...]
 *
 * Every lookup is started at once, on one loop; the results are printed
 * in the order of the arguments when all have ended:
 *
 *   = mx example.test OK implicit=0 secure=0
 *   10 mx1.example.test 127.0.0.1
 *   20 mx2.example.test ::1
 *   = mx nxdomain.test NOTFOUND implicit=0 secure=0
 *   error Host or domain name not found. Name service error ...
 *
 * one line per address ("PREF HOST ADDRESS"; a host with two addresses
 * has two lines).  -x N cancels lookup N (from 1) at once: it prints
 * "= mx NAME CANCELLED", and its callback running is an error.  -F frees
 * the resolver in the first callback: the other lookups print
 * "= mx NAME FREED", and their callbacks running is an error.  -C
 * calls the first lookup's cancel inside its own callback and starts a
 * new lookup of the same name there (printed last as "= again ...").
 * Lookups that mta_dns_mx()/_host() refuse print "= mx NAME REFUSED
 * message".  Exit 0, or 1 after an error, or 2 when the loop still runs
 * after 3 times [dns] timeout plus 10 seconds (a lookup never ended).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "mta/dns.h"

#define LOOKUPS_MAX	256

struct lookup {
	int		 is_mx;
	const char	*name;
	uint64_t	 qid;
	int		 state;		/* 0 pending, 1 done, 2 cancelled,
					   3 refused, 4 freed */
	char		*out;		/* what to print */
};

static struct lookup lookups[LOOKUPS_MAX + 1];
static size_t nlookups, nwaiting;
static struct mta_dns *dns;
static struct event_base *base;
static int free_first, recurse_first, failed;

static void	usage(void);
static void	done_cb(const struct mta_dns_result *, void *);
static char	*format(const char *kind, const char *name,
		    const struct mta_dns_result *);
static void	hung(evutil_socket_t, short, void *);

static void
usage(void)
{
	fprintf(stderr, "usage: dns-helper -c CONF [-x N] [-F] [-C] "
	    "mx|host NAME ...\n");
	exit(1);
}

static char *
format(const char *kind, const char *name, const struct mta_dns_result *r)
{
	static const char *const st[] = { "OK", "TEMP", "NOTFOUND",
	    "NULLMX" };
	char addr[INET6_ADDRSTRLEN], *out, *line;
	const struct sockaddr_storage *ss;
	size_t h, a;

	out = xasprintf("= %s %s %s implicit=%d secure=%d\n", kind, name,
	    st[r->status], r->implicit, r->secure);
	if (r->error[0] != '\0') {
		line = xasprintf("%serror %s\n", out, r->error);
		free(out);
		out = line;
	}
	for (h = 0; h < r->nhosts; h++)
		for (a = 0; a < r->hosts[h].naddrs; a++) {
			ss = &r->hosts[h].addrs[a];
			if (ss->ss_family == AF_INET)
				inet_ntop(AF_INET, &((const struct sockaddr_in
				    *)ss)->sin_addr, addr, sizeof(addr));
			else
				inet_ntop(AF_INET6, &((const struct
				    sockaddr_in6 *)ss)->sin6_addr, addr,
				    sizeof(addr));
			line = xasprintf("%s%u %s %s\n", out,
			    r->hosts[h].pref, r->hosts[h].name, addr);
			free(out);
			out = line;
		}
	return out;
}

static void
done_cb(const struct mta_dns_result *r, void *arg)
{
	struct lookup *l = arg;
	size_t i;

	if (l->state != 0) {
		printf("ERROR: a callback for %s %s after it ended (state "
		    "%d)\n", l->is_mx ? "mx" : "host", l->name, l->state);
		failed = 1;
		return;
	}
	if (strcmp(r->name, l->name) != 0 &&
	    strlen(r->name) + 1 != strlen(l->name)) {
		printf("ERROR: result for %s names %s\n", l->name, r->name);
		failed = 1;
	}
	l->state = 1;
	l->out = format(l == &lookups[LOOKUPS_MAX] ? "again" :
	    l->is_mx ? "mx" : "host", l->name, r);
	nwaiting--;
	if (free_first) {
		free_first = 0;
		mta_dns_free(&dns);
		for (i = 0; i < nlookups; i++)
			if (lookups[i].state == 0) {
				lookups[i].state = 4;
				nwaiting--;
			}
	}
	if (recurse_first && l == &lookups[0]) {
		recurse_first = 0;
		/* Cancelling a lookup in its own callback does nothing. */
		mta_dns_cancel(dns, l->qid);
		lookups[LOOKUPS_MAX] = *l;
		lookups[LOOKUPS_MAX].state = 0;
		lookups[LOOKUPS_MAX].out = NULL;
		if ((l->is_mx ? mta_dns_mx : mta_dns_host)(dns, l->name,
		    done_cb, &lookups[LOOKUPS_MAX],
		    &lookups[LOOKUPS_MAX].qid) == 0)
			nwaiting++;
		else {
			printf("ERROR: again %s: %s\n", l->name, err_msg());
			failed = 1;
		}
	}
	if (nwaiting == 0)
		event_base_loopbreak(base);
}

static void
hung(evutil_socket_t fd, short what, void *arg)
{
	size_t i;

	for (i = 0; i <= LOOKUPS_MAX; i++)
		if (lookups[i].name != NULL && lookups[i].state == 0)
			printf("HUNG: %s %s never ended\n",
			    lookups[i].is_mx ? "mx" : "host",
			    lookups[i].name);
	exit(2);
}

int
main(int argc, char **argv)
{
	struct config c;
	struct event *guard;
	struct timeval tv;
	char *errs = NULL;
	const char *conf = NULL;
	size_t i, cancel = 0;
	int ch, rc;

	log_init("dns-helper", LOG_TO_STDERR, 1);
	while ((ch = getopt(argc, argv, "c:x:FC")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'x':
			cancel = (size_t)strtoul(optarg, NULL, 10);
			break;
		case 'F':
			free_first = 1;
			break;
		case 'C':
			recurse_first = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (conf == NULL || argc == 0 || argc % 2 != 0 ||
	    argc / 2 > LOOKUPS_MAX)
		usage();
	if (config_load(conf, &c, &errs) != 0) {
		fprintf(stderr, "dns-helper: %s\n%s", err_msg(),
		    errs != NULL ? errs : "");
		return 1;
	}
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if (mta_dns_new(base, &c, &dns) != 0) {
		printf("NEW FAILED %s %s\n", err_class_name(err_class()),
		    err_msg());
		return 1;
	}
	for (i = 0; i < (size_t)argc / 2; i++) {
		struct lookup *l = &lookups[nlookups++];

		if (strcmp(argv[2 * i], "mx") == 0)
			l->is_mx = 1;
		else if (strcmp(argv[2 * i], "host") != 0)
			usage();
		l->name = argv[2 * i + 1];
		rc = (l->is_mx ? mta_dns_mx : mta_dns_host)(dns, l->name,
		    done_cb, l, &l->qid);
		if (rc != 0) {
			l->state = 3;
			l->out = xasprintf("= %s %s REFUSED %s %s\n",
			    argv[2 * i], l->name,
			    err_class_name(err_class()), err_msg());
			continue;
		}
		if (l->qid == 0) {
			printf("ERROR: qid 0 for %s\n", l->name);
			failed = 1;
		}
		nwaiting++;
	}
	if (cancel > 0 && cancel <= nlookups &&
	    lookups[cancel - 1].state == 0) {
		mta_dns_cancel(dns, lookups[cancel - 1].qid);
		lookups[cancel - 1].state = 2;
		nwaiting--;
	}
	guard = evtimer_new(base, hung, NULL);
	tv.tv_sec = 3 * c.dns_timeout + 10;
	tv.tv_usec = 0;
	evtimer_add(guard, &tv);
	if (nwaiting > 0)
		event_base_dispatch(base);
	for (i = 0; i <= LOOKUPS_MAX; i++) {
		struct lookup *l = &lookups[i];

		if (l->name == NULL)
			continue;
		if (l->state == 2)
			printf("= %s %s CANCELLED\n", l->is_mx ? "mx" : "host",
			    l->name);
		else if (l->state == 4)
			printf("= %s %s FREED\n", l->is_mx ? "mx" : "host",
			    l->name);
		else if (l->out != NULL)
			fputs(l->out, stdout);
		free(l->out);
	}
	if (dns != NULL) {
		printf("pending %zu\n", mta_dns_pending(dns));
		mta_dns_free(&dns);
	}
	event_free(guard);
	event_base_free(base);
	fflush(stdout);
	return failed;
}
