/*
 * dns.c - see dns.h.
 *
 * A lookup (struct mta_dns_query) is one or more queries of the
 * process's resolver (common/dns.h), each a struct mta_dns_sub: the MX,
 * then an A and an AAAA per host.  The resolver calls back on the loop,
 * never inside the call that asked nor inside libunbound, so an answer
 * takes the lookup's next step at once (asks for the addresses, or
 * finishes it and calls the caller back).  The lookup as a whole keeps
 * to [dns] timeout: each query is given the time left of it.  An IP
 * address given to mta_dns_host() answers itself from a zero timer, so
 * that callback too comes later than the call.
 *
 * A lookup is off the active list, and no query of it is pending, when
 * its caller's callback runs: the callback may cancel it (ignored),
 * start lookups or free the resolver, and nothing here touches the
 * resolver after the callback returns.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/config.h"
#include "common/dns.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "dns.h"

/* MX records read from one answer before sorting (a 64 KiB answer has
   room for a few thousand; the most preferred MTA_DNS_HOSTS_MAX stay). */
#define DNS_MX_READ_MAX		1024

enum dns_outcome {
	OUT_PENDING = 0,	/* not asked, or no answer yet */
	OUT_DATA,		/* records of the type */
	OUT_NODATA,		/* the name exists, no such records */
	OUT_NXDOMAIN,
	OUT_TEMP,		/* SERVFAIL, bogus, timeout, libunbound */
};

struct mta_dns_query;

/* One query of a lookup. */
struct mta_dns_sub {
	struct mta_dns_query	*q;
	int			 rrtype;
	int			 host;		/* index in hosts, -1: the MX */
	uint64_t		 qid;		/* at the resolver */
	int			 asked;		/* sent, no answer yet */
	enum dns_outcome	 outcome;
	int			 secure;
	char			 error[MTA_DNS_ERROR_MAX];
	size_t			 naddrs;	/* A/AAAA answers kept */
	struct sockaddr_storage	*addrs;		/* MTA_DNS_ADDRS_MAX */
};

struct mta_dns_query {
	TAILQ_ENTRY(mta_dns_query) entry;	/* on active */
	struct mta_dns		*dns;		/* NULL once finished */
	uint64_t		 qid;
	int			 is_mx;		/* mta_dns_mx(), not _host() */
	int			 literal;	/* _host() of an IP address */
	int			 hosts_asked;	/* address queries sent */
	uint64_t		 deadline_ms;	/* monotonic */
	char			 name[MTA_DNS_NAME_MAX + 3];
	mta_dns_cb		*cb;
	void			*arg;
	struct event		*timer;		/* a literal's answer */
	struct mta_dns_sub	 mx;
	size_t			 nhosts;
	struct mta_dns_host	*hosts;		/* names and prefs */
	struct mta_dns_sub	*subs;		/* 2 per host: A, AAAA */
	struct mta_dns_result	 res;		/* when done */
};

TAILQ_HEAD(mta_dns_queries, mta_dns_query);

struct mta_dns {
	struct event_base	*base;
	struct dns		*dns;
	struct mta_dns_queries	 active;
	size_t			 npending;
	uint64_t		 next_qid;
	unsigned		 timeout;	/* seconds */
	int			 ipv4, ipv6;
};

/* An MX record read from an answer, for sorting. */
struct dns_mx {
	unsigned	pref;
	uint32_t	shuffle;	/* random: equal prefs in any order */
	char		name[MTA_DNS_NAME_MAX + 3];
};

static int	mta_dns_start(struct mta_dns *, const char *, int is_mx,
		    mta_dns_cb *, void *, uint64_t *);
static uint64_t	mta_dns_now_ms(void);
static int	mta_dns_ask(struct mta_dns_query *, struct mta_dns_sub *,
		    const char *name);
static void	mta_dns_answer(const struct dns_answer *, void *);
static void	mta_dns_literal_cb(evutil_socket_t, short, void *);
static void	mta_dns_step(struct mta_dns_query *);
static void	mta_dns_mx_answer(struct mta_dns_query *,
		    const struct dns_answer *);
static void	mta_dns_addr_answer(struct mta_dns_sub *,
		    const struct dns_answer *);
static size_t	mta_dns_ask_hosts(struct mta_dns_query *);
static void	mta_dns_finish(struct mta_dns_query *);
static void	mta_dns_result_hosts(struct mta_dns_query *);
static void	mta_dns_query_free(struct mta_dns_query *);
static int	mta_dns_mx_cmp(const void *, const void *);
static int	mta_dns_literal(const char *, struct sockaddr_storage *);

int
mta_dns_new(struct event_base *base, const struct config *c,
    struct mta_dns **r)
{
	struct mta_dns *dns;

	*r = NULL;
	dns = xcalloc(1, sizeof(*dns));
	if (dns_new(base, c, &dns->dns) == -1) {
		free(dns);
		return -1;
	}
	dns->base = base;
	dns->timeout = c->dns_timeout;
	dns->ipv4 = c->dns_ipv4;
	dns->ipv6 = c->dns_ipv6;
	dns->next_qid = 1;
	TAILQ_INIT(&dns->active);
	*r = dns;
	return 0;
}

void
mta_dns_free(struct mta_dns **dnsp)
{
	struct mta_dns *dns = *dnsp;
	struct mta_dns_query *q;

	if (dns == NULL)
		return;
	*dnsp = NULL;
	while ((q = TAILQ_FIRST(&dns->active)) != NULL)
		mta_dns_query_free(q);
	/* In a callback of the resolver: it frees itself after it. */
	dns_free(&dns->dns);
	free(dns);
}

size_t
mta_dns_pending(const struct mta_dns *dns)
{
	return dns->npending;
}

int
mta_dns_mx(struct mta_dns *dns, const char *domain, mta_dns_cb *cb,
    void *arg, uint64_t *qid_r)
{
	return mta_dns_start(dns, domain, 1, cb, arg, qid_r);
}

int
mta_dns_host(struct mta_dns *dns, const char *host, mta_dns_cb *cb,
    void *arg, uint64_t *qid_r)
{
	return mta_dns_start(dns, host, 0, cb, arg, qid_r);
}

void
mta_dns_cancel(struct mta_dns *dns, uint64_t qid)
{
	struct mta_dns_query *q;

	TAILQ_FOREACH(q, &dns->active, entry)
		if (q->qid == qid) {
			mta_dns_query_free(q);
			return;
		}
}

/* An IPv4 or IPv6 address, maybe in brackets: 1 and *ss, else 0. */
static int
mta_dns_literal(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char buf[64];
	size_t n = strlen(s);

	memset(ss, 0, sizeof(*ss));
	if (n >= 2 && n < sizeof(buf) && s[0] == '[' && s[n - 1] == ']') {
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = '\0';
		s = buf;
	}
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 1;
	}
	return 0;
}

static int
mta_dns_start(struct mta_dns *dns, const char *name, int is_mx,
    mta_dns_cb *cb, void *arg, uint64_t *qid_r)
{
	struct mta_dns_query *q;
	struct sockaddr_storage ss;
	struct timeval tv = { 0, 0 };
	int literal;

	if (qid_r != NULL)
		*qid_r = 0;
	q = xcalloc(1, sizeof(*q));
	literal = !is_mx && mta_dns_literal(name, &ss);
	if (literal)
		snprintf(q->name, sizeof(q->name), "%s", name);
	else if (!dns_name_ok(name, q->name, sizeof(q->name))) {
		free(q);
		return err_set(ERR_INVALID, "'%.80s' is not a domain name",
		    name);
	}
	q->dns = dns;
	q->qid = dns->next_qid++;
	q->is_mx = is_mx;
	q->literal = literal;
	q->cb = cb;
	q->arg = arg;
	q->deadline_ms = mta_dns_now_ms() + dns->timeout * 1000ULL;
	q->mx.q = q;
	q->mx.host = -1;
	q->mx.rrtype = DNS_T_MX;
	TAILQ_INSERT_TAIL(&dns->active, q, entry);
	dns->npending++;
	if (literal) {
		/* Answers itself, on the loop. */
		q->nhosts = 1;
		q->hosts = xcalloc(1, sizeof(*q->hosts));
		snprintf(q->hosts[0].name, sizeof(q->hosts[0].name), "%s",
		    name);
		q->hosts[0].naddrs = 1;
		q->hosts[0].addrs[0] = ss;
		q->timer = evtimer_new(dns->base, mta_dns_literal_cb, q);
		if (q->timer == NULL || evtimer_add(q->timer, &tv) != 0) {
			mta_dns_query_free(q);
			return err_set(ERR_TEMP, "libevent: cannot add a "
			    "timer");
		}
	} else if (is_mx) {
		if (mta_dns_ask(q, &q->mx, q->name) == -1) {
			mta_dns_query_free(q);
			return -1;
		}
	} else {
		q->nhosts = 1;
		q->hosts = xcalloc(1, sizeof(*q->hosts));
		memcpy(q->hosts[0].name, q->name, sizeof(q->name));
		if (mta_dns_ask_hosts(q) == 0) {
			mta_dns_query_free(q);
			return -1;
		}
	}
	if (qid_r != NULL)
		*qid_r = q->qid;
	return 0;
}

static uint64_t
mta_dns_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Sends one query with what is left of the lookup's time: 0, or -1 with
 * ERR_TEMP (sub marked failed).
 */
static int
mta_dns_ask(struct mta_dns_query *q, struct mta_dns_sub *sub,
    const char *name)
{
	uint64_t now = mta_dns_now_ms();
	unsigned left = q->deadline_ms > now ?
	    (unsigned)(q->deadline_ms - now) : 1;

	sub->q = q;
	if (dns_query(q->dns->dns, name, sub->rrtype, left, mta_dns_answer,
	    sub, &sub->qid) == -1) {
		sub->outcome = OUT_TEMP;
		snprintf(sub->error, sizeof(sub->error), "%s", err_msg());
		return -1;
	}
	sub->asked = 1;
	return 0;
}

/* The answer to one query of a lookup: record it, take the next step. */
static void
mta_dns_answer(const struct dns_answer *a, void *arg)
{
	struct mta_dns_sub *sub = arg;

	sub->asked = 0;
	sub->qid = 0;
	sub->secure = a->secure;
	snprintf(sub->error, sizeof(sub->error), "%s", a->error);
	switch (a->status) {
	case DNS_DATA:
		sub->outcome = OUT_DATA;
		if (sub->host < 0)
			mta_dns_mx_answer(sub->q, a);
		else
			mta_dns_addr_answer(sub, a);
		break;
	case DNS_NODATA:
		sub->outcome = OUT_NODATA;
		break;
	case DNS_NXDOMAIN:
		sub->outcome = OUT_NXDOMAIN;
		break;
	case DNS_TEMP:
		sub->outcome = OUT_TEMP;
		sub->secure = 0;
		break;
	}
	mta_dns_step(sub->q);
}

static void
mta_dns_literal_cb(evutil_socket_t fd, short what, void *arg)
{
	mta_dns_finish(arg);
}

/* After an answer: ask for addresses, or finish. */
static void
mta_dns_step(struct mta_dns_query *q)
{
	size_t i;

	if (q->mx.asked)
		return;
	if (q->is_mx && !q->hosts_asked) {
		if (q->mx.outcome == OUT_NODATA) {
			/* RFC 5321 5.1: no MX, the domain is its own. */
			q->res.implicit = 1;
			q->nhosts = 1;
			q->hosts = xcalloc(1, sizeof(*q->hosts));
			memcpy(q->hosts[0].name, q->name, sizeof(q->name));
		}
		if (q->nhosts > 0)
			(void)mta_dns_ask_hosts(q);
	}
	for (i = 0; q->subs != NULL && i < q->nhosts * 2; i++)
		if (q->subs[i].asked)
			return;
	mta_dns_finish(q);
}

/* MX records into q->hosts, most preferred first; all "." : null MX. */
static void
mta_dns_mx_answer(struct mta_dns_query *q, const struct dns_answer *a)
{
	struct dns_mx *mx;
	size_t n = 0, i, j, nnull = 0, ntotal = 0;
	const unsigned char *d;

	ntotal = a->count;
	mx = xcalloc(ntotal > DNS_MX_READ_MAX ? DNS_MX_READ_MAX : ntotal + 1,
	    sizeof(*mx));
	for (i = 0; i < a->count && n < DNS_MX_READ_MAX; i++) {
		d = a->data[i];
		if (a->len[i] < 3 || dns_wire_name(d + 2,
		    (size_t)a->len[i] - 2, mx[n].name, sizeof(mx[n].name),
		    NULL) != 0)
			continue;
		if (strcmp(mx[n].name, "") == 0) {
			nnull++;
			continue;
		}
		mx[n].pref = (unsigned)(d[0] << 8 | d[1]);
		mx[n].shuffle = arc4random();
		/* A host listed twice keeps its best preference. */
		for (j = 0; j < n; j++)
			if (strcasecmp(mx[j].name, mx[n].name) == 0)
				break;
		if (j < n) {
			if (mx[n].pref < mx[j].pref)
				mx[j].pref = mx[n].pref;
			continue;
		}
		n++;
	}
	if (n == 0) {
		q->mx.outcome = OUT_TEMP;
		if (nnull > 0)
			q->res.status = MTA_DNS_NULLMX;
		else
			snprintf(q->mx.error, sizeof(q->mx.error), "Name "
			    "service error for name=%s type=MX: malformed MX "
			    "records", q->name);
		free(mx);
		return;
	}
	qsort(mx, n, sizeof(*mx), mta_dns_mx_cmp);
	q->nhosts = n > MTA_DNS_HOSTS_MAX ? MTA_DNS_HOSTS_MAX : n;
	q->hosts = xcalloc(q->nhosts, sizeof(*q->hosts));
	for (i = 0; i < q->nhosts; i++) {
		memcpy(q->hosts[i].name, mx[i].name, sizeof(mx[i].name));
		q->hosts[i].pref = mx[i].pref;
	}
	free(mx);
}

static int
mta_dns_mx_cmp(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	if (x->shuffle != y->shuffle)
		return x->shuffle < y->shuffle ? -1 : 1;
	return strcasecmp(x->name, y->name);
}

/* A or AAAA records into the sub. */
static void
mta_dns_addr_answer(struct mta_dns_sub *sub, const struct dns_answer *a)
{
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	size_t i;

	for (i = 0; i < a->count; i++) {
		if (sub->naddrs == MTA_DNS_ADDRS_MAX)
			break;
		if (sub->rrtype == DNS_T_A && a->len[i] == 4) {
			sin = (struct sockaddr_in *)&sub->addrs[sub->naddrs];
			memset(sin, 0, sizeof(sub->addrs[0]));
			sin->sin_family = AF_INET;
			memcpy(&sin->sin_addr, a->data[i], 4);
			sub->naddrs++;
		} else if (sub->rrtype == DNS_T_AAAA &&
		    a->len[i] == 16) {
			sin6 = (struct sockaddr_in6 *)
			    &sub->addrs[sub->naddrs];
			memset(sin6, 0, sizeof(sub->addrs[0]));
			sin6->sin6_family = AF_INET6;
			memcpy(&sin6->sin6_addr, a->data[i], 16);
			sub->naddrs++;
		}
	}
	if (sub->naddrs == 0) {
		sub->outcome = OUT_TEMP;
		snprintf(sub->error, sizeof(sub->error), "Name service error "
		    "for name=%s type=%s: malformed records",
		    sub->q->hosts[sub->host].name,
		    sub->rrtype == DNS_T_A ? "A" : "AAAA");
	}
}

/* Sends the A and AAAA queries of every host; how many went. */
static size_t
mta_dns_ask_hosts(struct mta_dns_query *q)
{
	struct mta_dns_sub *sub;
	size_t i, t, sent = 0;

	q->subs = xcalloc(q->nhosts * 2, sizeof(*q->subs));
	for (i = 0; i < q->nhosts; i++)
		for (t = 0; t < 2; t++) {
			sub = &q->subs[i * 2 + t];
			sub->q = q;
			sub->host = (int)i;
			sub->rrtype = t == 0 ? DNS_T_A : DNS_T_AAAA;
			if ((t == 0 && !q->dns->ipv4) ||
			    (t == 1 && !q->dns->ipv6))
				continue;
			sub->addrs = xcalloc(MTA_DNS_ADDRS_MAX,
			    sizeof(*sub->addrs));
			if (mta_dns_ask(q, sub, q->hosts[i].name) == 0)
				sent++;
		}
	q->hosts_asked = 1;
	return sent;
}

/*
 * The result of a finished lookup, and its callback.  Nothing of the
 * lookup is pending at the resolver; the lookup leaves the active list
 * first, so whatever the callback does, q alone is freed after it.
 */
static void
mta_dns_finish(struct mta_dns_query *q)
{
	struct mta_dns *dns = q->dns;

	q->res.name = q->name;
	if (q->res.status == MTA_DNS_NULLMX) {
		snprintf(q->res.error, sizeof(q->res.error), "Domain %s does "
		    "not accept mail (nullMX)", q->name);
		q->res.secure = q->mx.secure;
	} else if (q->is_mx && q->mx.outcome != OUT_DATA &&
	    q->mx.outcome != OUT_NODATA) {
		q->res.status = q->mx.outcome == OUT_NXDOMAIN ?
		    MTA_DNS_NOTFOUND : MTA_DNS_TEMP;
		q->res.secure = q->mx.secure;
		snprintf(q->res.error, sizeof(q->res.error), "%s",
		    q->mx.outcome == OUT_PENDING ? "Name service error: no "
		    "answer" : q->mx.error);
	} else if (q->literal) {
		q->res.status = MTA_DNS_OK;
		q->res.nhosts = 1;
		q->res.hosts = q->hosts;
	} else
		mta_dns_result_hosts(q);
	TAILQ_REMOVE(&dns->active, q, entry);
	dns->npending--;
	q->dns = NULL;
	q->cb(&q->res, q->arg);
	mta_dns_query_free(q);
}

/* Each host's addresses from its subs; hosts without any go. */
static void
mta_dns_result_hosts(struct mta_dns_query *q)
{
	struct mta_dns_host *h;
	struct mta_dns_sub *a, *aaaa;
	const char *temp_err = NULL, *err = NULL;
	size_t i, kept = 0, n4, n6, k;
	int any_temp = 0, all_secure = 1;

	for (i = 0; q->subs != NULL && i < q->nhosts; i++) {
		h = &q->hosts[i];
		a = &q->subs[i * 2];
		aaaa = &q->subs[i * 2 + 1];
		n6 = aaaa->naddrs;
		n4 = a->naddrs;
		if (n6 + n4 > MTA_DNS_ADDRS_MAX) {
			/* Each family keeps at least half of the places. */
			if (n6 > MTA_DNS_ADDRS_MAX / 2 &&
			    n4 >= MTA_DNS_ADDRS_MAX / 2)
				n6 = MTA_DNS_ADDRS_MAX / 2;
			if (n6 + n4 > MTA_DNS_ADDRS_MAX)
				n4 = MTA_DNS_ADDRS_MAX - n6;
		}
		h->naddrs = 0;
		for (k = 0; k < n6; k++)
			h->addrs[h->naddrs++] = aaaa->addrs[k];
		for (k = 0; k < n4; k++)
			h->addrs[h->naddrs++] = a->addrs[k];
		h->secure = (a->outcome == OUT_PENDING || a->secure) &&
		    (aaaa->outcome == OUT_PENDING || aaaa->secure);
		if (a->outcome == OUT_TEMP || aaaa->outcome == OUT_TEMP) {
			any_temp = 1;
			temp_err = a->outcome == OUT_TEMP ? a->error :
			    aaaa->error;
		}
		if (h->naddrs == 0) {
			err = a->error[0] != '\0' ? a->error : aaaa->error;
			continue;
		}
		all_secure = all_secure && h->secure;
		if (kept != i)
			q->hosts[kept] = *h;
		kept++;
	}
	q->res.nhosts = kept;
	q->res.hosts = q->hosts;
	if (kept > 0) {
		q->res.status = MTA_DNS_OK;
		q->res.secure = q->is_mx ? q->mx.secure : all_secure;
		return;
	}
	if (any_temp) {
		q->res.status = MTA_DNS_TEMP;
		snprintf(q->res.error, sizeof(q->res.error), "%s", temp_err);
	} else if (q->is_mx && !q->res.implicit) {
		/* The domain has MX records; their hosts may come back. */
		q->res.status = MTA_DNS_TEMP;
		snprintf(q->res.error, sizeof(q->res.error), "No MX host of "
		    "%s has an address: %s", q->name, err != NULL ? err :
		    "no answer");
	} else {
		q->res.status = MTA_DNS_NOTFOUND;
		snprintf(q->res.error, sizeof(q->res.error), "%s",
		    err != NULL ? err : "Host or domain name not found");
	}
	q->res.secure = q->is_mx ? q->mx.secure : 0;
}

/* Takes q off the active list, cancels its queries, frees it. */
static void
mta_dns_query_free(struct mta_dns_query *q)
{
	struct mta_dns *dns = q->dns;
	size_t i;

	if (dns != NULL) {
		if (q->mx.asked)
			dns_cancel(dns->dns, q->mx.qid);
		for (i = 0; q->subs != NULL && i < q->nhosts * 2; i++)
			if (q->subs[i].asked)
				dns_cancel(dns->dns, q->subs[i].qid);
		TAILQ_REMOVE(&dns->active, q, entry);
		dns->npending--;
	}
	if (q->timer != NULL)
		event_free(q->timer);
	for (i = 0; q->subs != NULL && i < q->nhosts * 2; i++)
		free(q->subs[i].addrs);
	free(q->subs);
	free(q->hosts);
	free(q);
}
