/*
 * dns.c - see dns.h.
 *
 * libunbound runs its resolver in a thread of its own (ub_ctx_async(1):
 * its default is to fork a process) and writes answers to a pipe,
 * ub_fd(); an EV_READ|EV_PERSIST event on that descriptor calls
 * ub_process(), which runs the callback of every answer that arrived.
 *
 * A lookup (struct mta_dns_query) is one or more libunbound queries
 * (struct mta_dns_sub): the MX, then an A and an AAAA per host.  The
 * libunbound callbacks only record answers and mark the lookup; after
 * ub_process() returns, each marked lookup takes its next step (starts
 * the address queries, or is finished).  A finished lookup goes on the
 * done list, and an event of its own runs the callers' callbacks from
 * there: so a callback never runs inside libunbound, inside the call
 * that started its lookup, or while this file walks its lists, and it
 * may start, cancel and free as it likes.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unbound.h>
#include <unistd.h>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "dns.h"

#define DNS_TYPE_A	1
#define DNS_TYPE_MX	15
#define DNS_TYPE_AAAA	28
#define DNS_CLASS_IN	1
#define DNS_RCODE_NOERROR	0
#define DNS_RCODE_SERVFAIL	2
#define DNS_RCODE_NXDOMAIN	3
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

/* One libunbound query of a lookup. */
struct mta_dns_sub {
	struct mta_dns_query	*q;
	int			 rrtype;
	int			 host;		/* index in hosts, -1: the MX */
	int			 ub_id;
	int			 asked;		/* sent, no answer yet */
	enum dns_outcome	 outcome;
	int			 secure;
	char			 error[MTA_DNS_ERROR_MAX];
	size_t			 naddrs;	/* A/AAAA answers kept */
	struct sockaddr_storage	*addrs;		/* MTA_DNS_ADDRS_MAX */
};

struct mta_dns_query {
	TAILQ_ENTRY(mta_dns_query) entry;	/* active or done list */
	struct mta_dns_query	*next_marked;
	struct mta_dns		*dns;
	uint64_t		 qid;
	int			 is_mx;		/* mta_dns_mx(), not _host() */
	int			 literal;	/* _host() of an IP address */
	int			 where;		/* Q_ACTIVE, Q_DONE */
	int			 marked;
	int			 timed_out;
	int			 hosts_asked;	/* address queries sent */
	char			 name[MTA_DNS_NAME_MAX + 3];
	mta_dns_cb		*cb;
	void			*arg;
	struct event		*timer;
	struct mta_dns_sub	 mx;
	size_t			 nhosts;
	struct mta_dns_host	*hosts;		/* names and prefs */
	struct mta_dns_sub	*subs;		/* 2 per host: A, AAAA */
	struct mta_dns_result	 res;		/* when done */
};

enum { Q_ACTIVE = 1, Q_DONE = 2 };

TAILQ_HEAD(mta_dns_queries, mta_dns_query);

struct mta_dns {
	struct event_base	*base;
	struct ub_ctx		*ctx;
	struct event		*ub_ev;		/* ub_fd() readable */
	struct event		*done_ev;	/* run the done list */
	struct mta_dns_queries	 active;
	struct mta_dns_queries	 done;
	struct mta_dns_query	*marked;	/* answered in ub_process() */
	size_t			 npending;	/* active + done */
	uint64_t		 next_qid;
	unsigned		 timeout;	/* seconds */
	int			 ipv4, ipv6;
	int			 running;	/* in a caller's callback */
	int			 dying;		/* mta_dns_free() in one */
};

/* An MX record read from an answer, for sorting. */
struct dns_mx {
	unsigned	pref;
	uint32_t	shuffle;	/* random: equal prefs in any order */
	char		name[MTA_DNS_NAME_MAX + 3];
};

static int	mta_dns_name_ok(const char *, char *out, size_t outsz);
static int	mta_dns_start(struct mta_dns *, const char *, int is_mx,
		    mta_dns_cb *, void *, uint64_t *);
static int	mta_dns_ask(struct mta_dns_query *, struct mta_dns_sub *,
		    const char *name);
static void	mta_dns_ub_cb(void *, int, struct ub_result *);
static void	mta_dns_ub_read(evutil_socket_t, short, void *);
static void	mta_dns_timer(evutil_socket_t, short, void *);
static void	mta_dns_run_done(evutil_socket_t, short, void *);
static void	mta_dns_mark(struct mta_dns_query *);
static void	mta_dns_step(struct mta_dns_query *);
static void	mta_dns_mx_answer(struct mta_dns_query *,
		    struct ub_result *);
static void	mta_dns_addr_answer(struct mta_dns_sub *,
		    struct ub_result *);
static size_t	mta_dns_ask_hosts(struct mta_dns_query *);
static void	mta_dns_finish(struct mta_dns_query *);
static void	mta_dns_result_hosts(struct mta_dns_query *);
static void	mta_dns_cancel_subs(struct mta_dns_query *);
static void	mta_dns_query_free(struct mta_dns_query *);
static void	mta_dns_destroy(struct mta_dns *);
static const char *mta_dns_type_name(int);
static int	mta_dns_wire_name(const unsigned char *, size_t, char *,
		    size_t);
static int	mta_dns_mx_cmp(const void *, const void *);
static int	mta_dns_literal(const char *, struct sockaddr_storage *);
static void	mta_dns_errf(char *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

int
mta_dns_new(struct event_base *base, const struct config *c,
    struct mta_dns **r)
{
	struct mta_dns *dns;
	char fwd[sizeof(c->dns_resolvers[0].addr) + 8];
	size_t i;
	int rc, fd;

	*r = NULL;
	if (c->dns_dnssec && access(c->dns_trust_anchor, R_OK) != 0)
		return err_set(ERR_NOTFOUND, "[dns] trust_anchor %s: %s "
		    "(dnssec = yes needs it; install dns-root-data or run "
		    "unbound-anchor)", c->dns_trust_anchor, strerror(errno));
	dns = xcalloc(1, sizeof(*dns));
	dns->base = base;
	dns->timeout = c->dns_timeout;
	dns->ipv4 = c->dns_ipv4;
	dns->ipv6 = c->dns_ipv6;
	dns->next_qid = 1;
	TAILQ_INIT(&dns->active);
	TAILQ_INIT(&dns->done);
	if ((dns->ctx = ub_ctx_create()) == NULL) {
		free(dns);
		return err_set(ERR_TEMP, "libunbound: cannot create a "
		    "resolver context");
	}
	/* A thread, not a forked process (libunbound's default). */
	if ((rc = ub_ctx_async(dns->ctx, 1)) != 0)
		goto ub_fail;
	/*
	 * A resolver on the loopback (a local unbound, the tests' server)
	 * is what `resolver = 127.0.0.1` means; unbound refuses to query
	 * localhost unless told.  A server that timed out once is kept
	 * being asked instead of being skipped for 15 minutes: one silent
	 * domain must not make every lookup fail.
	 */
	if ((rc = ub_ctx_set_option(dns->ctx, "do-not-query-localhost:",
	    "no")) != 0 ||
	    (rc = ub_ctx_set_option(dns->ctx, "infra-keep-probing:",
	    "yes")) != 0)
		goto ub_fail;
	/*
	 * With resolvers of its own choosing the operator (a lab, the
	 * tests) may use the special-use name test. (RFC 6761), which
	 * libunbound otherwise answers NXDOMAIN itself ("nodefault" does
	 * not undo that through ub_ctx_set_option(); "transparent" does).
	 */
	if (c->dns_nresolvers > 0 && (rc = ub_ctx_set_option(dns->ctx,
	    "local-zone:", "test. transparent")) != 0)
		goto ub_fail;
	for (i = 0; i < c->dns_nresolvers; i++) {
		snprintf(fwd, sizeof(fwd), "%s@%u", c->dns_resolvers[i].addr,
		    c->dns_resolvers[i].port);
		if ((rc = ub_ctx_set_fwd(dns->ctx, fwd)) != 0)
			goto ub_fail;
	}
	if (c->dns_nresolvers == 0 &&
	    (rc = ub_ctx_resolvconf(dns->ctx, NULL)) != 0)
		goto ub_fail;
	if (c->dns_dnssec)
		rc = ub_ctx_add_ta_file(dns->ctx, c->dns_trust_anchor);
	else
		rc = ub_ctx_set_option(dns->ctx, "module-config:",
		    "iterator");
	if (rc != 0)
		goto ub_fail;
	fd = ub_fd(dns->ctx);
	if (fd < 0) {
		rc = fd;
		goto ub_fail;
	}
	dns->ub_ev = event_new(base, fd, EV_READ | EV_PERSIST,
	    mta_dns_ub_read, dns);
	dns->done_ev = event_new(base, -1, 0, mta_dns_run_done, dns);
	if (dns->ub_ev == NULL || dns->done_ev == NULL ||
	    event_add(dns->ub_ev, NULL) != 0) {
		mta_dns_destroy(dns);
		return err_set(ERR_TEMP, "libevent: cannot watch the "
		    "resolver");
	}
	*r = dns;
	return 0;

ub_fail:
	ub_ctx_delete(dns->ctx);
	free(dns);
	return err_set(ERR_TEMP, "libunbound: cannot set up the resolver: "
	    "%s%s", ub_strerror(rc), rc == UB_READFILE ?
	    " (reading /etc/resolv.conf or the trust anchor)" : "");
}

void
mta_dns_free(struct mta_dns **dnsp)
{
	struct mta_dns *dns = *dnsp;
	struct mta_dns_query *q;

	if (dns == NULL)
		return;
	*dnsp = NULL;
	if (dns->running) {
		/* In a callback: mta_dns_run_done() frees after it. */
		while ((q = TAILQ_FIRST(&dns->active)) != NULL)
			mta_dns_query_free(q);
		while ((q = TAILQ_FIRST(&dns->done)) != NULL)
			mta_dns_query_free(q);
		dns->dying = 1;
		return;
	}
	mta_dns_destroy(dns);
}

static void
mta_dns_destroy(struct mta_dns *dns)
{
	struct mta_dns_query *q;

	while ((q = TAILQ_FIRST(&dns->active)) != NULL)
		mta_dns_query_free(q);
	while ((q = TAILQ_FIRST(&dns->done)) != NULL)
		mta_dns_query_free(q);
	if (dns->ub_ev != NULL)
		event_free(dns->ub_ev);
	if (dns->done_ev != NULL)
		event_free(dns->done_ev);
	ub_ctx_delete(dns->ctx);
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
	TAILQ_FOREACH(q, &dns->done, entry)
		if (q->qid == qid) {
			mta_dns_query_free(q);
			return;
		}
}

/*
 * name as a domain name without its final dot into out: letters,
 * digits, '-' and '_' in labels of 1 to 63 bytes, at most
 * MTA_DNS_NAME_MAX in all.  1 good, 0 not.
 */
static int
mta_dns_name_ok(const char *name, char *out, size_t outsz)
{
	size_t n = strlen(name), label = 0, i;
	unsigned char ch;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > MTA_DNS_NAME_MAX || n >= outsz)
		return 0;
	for (i = 0; i < n; i++) {
		ch = (unsigned char)name[i];
		if (ch == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	if (label == 0)
		return 0;
	memcpy(out, name, n);
	out[n] = '\0';
	return 1;
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
	struct timeval tv;
	int literal;

	if (qid_r != NULL)
		*qid_r = 0;
	q = xcalloc(1, sizeof(*q));
	literal = !is_mx && mta_dns_literal(name, &ss);
	if (literal)
		snprintf(q->name, sizeof(q->name), "%s", name);
	else if (!mta_dns_name_ok(name, q->name, sizeof(q->name))) {
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
	q->mx.q = q;
	q->mx.host = -1;
	q->mx.rrtype = DNS_TYPE_MX;
	TAILQ_INSERT_TAIL(&dns->active, q, entry);
	q->where = Q_ACTIVE;
	dns->npending++;
	if (literal) {
		/* Answers itself, on the loop. */
		q->nhosts = 1;
		q->hosts = xcalloc(1, sizeof(*q->hosts));
		snprintf(q->hosts[0].name, sizeof(q->hosts[0].name), "%s",
		    name);
		q->hosts[0].naddrs = 1;
		q->hosts[0].addrs[0] = ss;
		mta_dns_finish(q);
	} else {
		q->timer = evtimer_new(dns->base, mta_dns_timer, q);
		tv.tv_sec = dns->timeout;
		tv.tv_usec = 0;
		if (q->timer == NULL || evtimer_add(q->timer, &tv) != 0) {
			mta_dns_query_free(q);
			return err_set(ERR_TEMP, "libevent: cannot add a "
			    "timer");
		}
		if (is_mx) {
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
	}
	if (qid_r != NULL)
		*qid_r = q->qid;
	return 0;
}

/* Sends one query: 0, or -1 with ERR_TEMP (sub marked failed). */
static int
mta_dns_ask(struct mta_dns_query *q, struct mta_dns_sub *sub,
    const char *name)
{
	int rc;

	sub->q = q;
	rc = ub_resolve_async(q->dns->ctx, name, sub->rrtype, DNS_CLASS_IN,
	    sub, mta_dns_ub_cb, &sub->ub_id);
	if (rc != 0) {
		sub->outcome = OUT_TEMP;
		mta_dns_errf(sub->error, "Name service error "
		    "for name=%s type=%s: %s", name,
		    mta_dns_type_name(sub->rrtype), ub_strerror(rc));
		return err_set(ERR_TEMP, "%s", sub->error);
	}
	sub->asked = 1;
	return 0;
}

/* An error text into a buffer of MTA_DNS_ERROR_MAX, cut if need be. */
static void
mta_dns_errf(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, MTA_DNS_ERROR_MAX, fmt, ap);
	va_end(ap);
}

static const char *
mta_dns_type_name(int t)
{
	switch (t) {
	case DNS_TYPE_A:
		return "A";
	case DNS_TYPE_AAAA:
		return "AAAA";
	case DNS_TYPE_MX:
		return "MX";
	}
	return "?";
}

/* libunbound's answer, inside ub_process(): record it, mark the lookup. */
static void
mta_dns_ub_cb(void *data, int err, struct ub_result *res)
{
	struct mta_dns_sub *sub = data;
	struct mta_dns_query *q = sub->q;
	const char *name = sub->host < 0 ? q->name : q->hosts[sub->host].name;
	const char *type = mta_dns_type_name(sub->rrtype);

	sub->asked = 0;
	if (err != 0 || res == NULL) {
		sub->outcome = OUT_TEMP;
		mta_dns_errf(sub->error, "Name service error "
		    "for name=%s type=%s: %s", name, type, ub_strerror(err));
	} else if (res->bogus) {
		sub->outcome = OUT_TEMP;
		mta_dns_errf(sub->error, "DNSSEC validation "
		    "failed for name=%s type=%s: %s", name, type,
		    res->why_bogus != NULL ? res->why_bogus : "bogus answer");
	} else if (res->rcode == DNS_RCODE_NXDOMAIN) {
		sub->outcome = OUT_NXDOMAIN;
		sub->secure = res->secure;
		mta_dns_errf(sub->error, "Host or domain name "
		    "not found. Name service error for name=%s type=%s: Host "
		    "not found", name, type);
	} else if (res->rcode != DNS_RCODE_NOERROR) {
		sub->outcome = OUT_TEMP;
		mta_dns_errf(sub->error, "Host or domain name "
		    "not found. Name service error for name=%s type=%s: Host "
		    "not found, try again%s", name, type,
		    res->rcode == DNS_RCODE_SERVFAIL ? "" : " (the server "
		    "refused the query)");
	} else if (!res->havedata) {
		sub->outcome = OUT_NODATA;
		sub->secure = res->secure;
		mta_dns_errf(sub->error, "Host or domain name "
		    "not found. Name service error for name=%s type=%s: Host "
		    "found but no data record of requested type", name, type);
	} else {
		sub->outcome = OUT_DATA;
		sub->secure = res->secure;
		if (sub->host < 0)
			mta_dns_mx_answer(q, res);
		else
			mta_dns_addr_answer(sub, res);
	}
	if (res != NULL)
		ub_resolve_free(res);
	mta_dns_mark(q);
}

/* The lookup takes its next step once ub_process() has returned. */
static void
mta_dns_mark(struct mta_dns_query *q)
{
	if (q->marked)
		return;
	q->marked = 1;
	q->next_marked = q->dns->marked;
	q->dns->marked = q;
}

static void
mta_dns_ub_read(evutil_socket_t fd, short what, void *arg)
{
	struct mta_dns *dns = arg;
	struct mta_dns_query *q;
	int rc;

	if ((rc = ub_process(dns->ctx)) != 0)
		log_warnx("dns: libunbound: %s", ub_strerror(rc));
	while ((q = dns->marked) != NULL) {
		dns->marked = q->next_marked;
		q->next_marked = NULL;
		q->marked = 0;
		mta_dns_step(q);
	}
}

/* The lookup ran out of time: what has not answered failed. */
static void
mta_dns_timer(evutil_socket_t fd, short what, void *arg)
{
	struct mta_dns_query *q = arg;
	struct mta_dns_sub *sub;
	size_t i, n = q->nhosts * 2;

	q->timed_out = 1;
	for (i = 0; i <= n; i++) {
		if (i < n && q->subs == NULL)
			continue;
		sub = i == n ? &q->mx : &q->subs[i];
		if (!sub->asked)
			continue;
		ub_cancel(q->dns->ctx, sub->ub_id);
		sub->asked = 0;
		sub->outcome = OUT_TEMP;
		mta_dns_errf(sub->error, "Name service error "
		    "for name=%s type=%s: no answer within %u seconds",
		    sub->host < 0 ? q->name : q->hosts[sub->host].name,
		    mta_dns_type_name(sub->rrtype), q->dns->timeout);
	}
	mta_dns_step(q);
}

/* After an answer or the timeout: ask for addresses, or finish. */
static void
mta_dns_step(struct mta_dns_query *q)
{
	size_t i;

	if (q->where != Q_ACTIVE)
		return;
	if (q->mx.asked)
		return;
	if (q->is_mx && !q->hosts_asked && !q->timed_out) {
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
mta_dns_mx_answer(struct mta_dns_query *q, struct ub_result *res)
{
	struct dns_mx *mx;
	size_t n = 0, i, j, nnull = 0, ntotal = 0;
	const unsigned char *d;

	for (i = 0; res->data[i] != NULL; i++)
		ntotal++;
	mx = xcalloc(ntotal > DNS_MX_READ_MAX ? DNS_MX_READ_MAX : ntotal + 1,
	    sizeof(*mx));
	for (i = 0; res->data[i] != NULL && n < DNS_MX_READ_MAX; i++) {
		d = (const unsigned char *)res->data[i];
		if (res->len[i] < 3 || mta_dns_wire_name(d + 2,
		    (size_t)res->len[i] - 2, mx[n].name,
		    sizeof(mx[n].name)) != 0)
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
			mta_dns_errf(q->mx.error, "Name "
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

/*
 * An uncompressed wire-format name (as libunbound gives rdata) into
 * text without the final dot ("" for the root).  0, or -1 when
 * malformed or too long.
 */
static int
mta_dns_wire_name(const unsigned char *d, size_t len, char *out,
    size_t outsz)
{
	size_t i = 0, o = 0, l, k;

	for (;;) {
		if (i >= len)
			return -1;
		l = d[i++];
		if (l == 0)
			break;
		if (l > 63 || i + l > len)
			return -1;
		if (o > 0) {
			if (o + 1 >= outsz)
				return -1;
			out[o++] = '.';
		}
		for (k = 0; k < l; k++) {
			if (o + 1 >= outsz)
				return -1;
			/* Only host-name bytes: a later query gets it. */
			if (d[i + k] <= ' ' || d[i + k] >= 127 ||
			    d[i + k] == '.' || d[i + k] == '\\')
				return -1;
			out[o++] = (char)d[i + k];
		}
		i += l;
	}
	if (o > MTA_DNS_NAME_MAX)
		return -1;
	out[o] = '\0';
	return 0;
}

/* A or AAAA records into the sub. */
static void
mta_dns_addr_answer(struct mta_dns_sub *sub, struct ub_result *res)
{
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	size_t i;

	for (i = 0; res->data[i] != NULL; i++) {
		if (sub->naddrs == MTA_DNS_ADDRS_MAX)
			break;
		if (sub->rrtype == DNS_TYPE_A && res->len[i] == 4) {
			sin = (struct sockaddr_in *)&sub->addrs[sub->naddrs];
			memset(sin, 0, sizeof(sub->addrs[0]));
			sin->sin_family = AF_INET;
			memcpy(&sin->sin_addr, res->data[i], 4);
			sub->naddrs++;
		} else if (sub->rrtype == DNS_TYPE_AAAA &&
		    res->len[i] == 16) {
			sin6 = (struct sockaddr_in6 *)
			    &sub->addrs[sub->naddrs];
			memset(sin6, 0, sizeof(sub->addrs[0]));
			sin6->sin6_family = AF_INET6;
			memcpy(&sin6->sin6_addr, res->data[i], 16);
			sub->naddrs++;
		}
	}
	if (sub->naddrs == 0) {
		sub->outcome = OUT_TEMP;
		mta_dns_errf(sub->error, "Name service error "
		    "for name=%s type=%s: malformed records",
		    sub->q->hosts[sub->host].name,
		    mta_dns_type_name(sub->rrtype));
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
			sub->rrtype = t == 0 ? DNS_TYPE_A : DNS_TYPE_AAAA;
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

/* The result of a finished lookup; onto the done list. */
static void
mta_dns_finish(struct mta_dns_query *q)
{
	struct mta_dns *dns = q->dns;

	if (q->timer != NULL) {
		event_free(q->timer);
		q->timer = NULL;
	}
	q->res.name = q->name;
	if (q->res.status == MTA_DNS_NULLMX) {
		mta_dns_errf(q->res.error, "Domain %s does "
		    "not accept mail (nullMX)", q->name);
		q->res.secure = q->mx.secure;
	} else if (q->is_mx && q->mx.outcome != OUT_DATA &&
	    q->mx.outcome != OUT_NODATA) {
		q->res.status = q->mx.outcome == OUT_NXDOMAIN ?
		    MTA_DNS_NOTFOUND : MTA_DNS_TEMP;
		q->res.secure = q->mx.secure;
		mta_dns_errf(q->res.error, "%s",
		    q->mx.outcome == OUT_PENDING ? "Name service error: no "
		    "answer" : q->mx.error);
	} else if (q->literal) {
		q->res.status = MTA_DNS_OK;
		q->res.nhosts = 1;
		q->res.hosts = q->hosts;
	} else
		mta_dns_result_hosts(q);
	TAILQ_REMOVE(&dns->active, q, entry);
	TAILQ_INSERT_TAIL(&dns->done, q, entry);
	q->where = Q_DONE;
	event_active(dns->done_ev, 0, 0);
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
		mta_dns_errf(q->res.error, "%s", temp_err);
	} else if (q->is_mx && !q->res.implicit) {
		/* The domain has MX records; their hosts may come back. */
		q->res.status = MTA_DNS_TEMP;
		mta_dns_errf(q->res.error, "No MX host of "
		    "%s has an address: %s", q->name, err != NULL ? err :
		    "no answer");
	} else {
		q->res.status = MTA_DNS_NOTFOUND;
		mta_dns_errf(q->res.error, "%s",
		    err != NULL ? err : "Host or domain name not found");
	}
	q->res.secure = q->is_mx ? q->mx.secure : 0;
}

/* Runs the callbacks of finished lookups, on the loop. */
static void
mta_dns_run_done(evutil_socket_t fd, short what, void *arg)
{
	struct mta_dns *dns = arg;
	struct mta_dns_query *q;

	dns->running = 1;
	while ((q = TAILQ_FIRST(&dns->done)) != NULL) {
		TAILQ_REMOVE(&dns->done, q, entry);
		q->where = 0;
		dns->npending--;
		q->cb(&q->res, q->arg);
		q->dns = NULL;
		mta_dns_query_free(q);
		if (dns->dying) {
			dns->running = 0;
			mta_dns_destroy(dns);
			return;
		}
	}
	dns->running = 0;
}

/* Stops what the lookup has pending at libunbound. */
static void
mta_dns_cancel_subs(struct mta_dns_query *q)
{
	size_t i;

	if (q->mx.asked) {
		ub_cancel(q->dns->ctx, q->mx.ub_id);
		q->mx.asked = 0;
	}
	for (i = 0; q->subs != NULL && i < q->nhosts * 2; i++)
		if (q->subs[i].asked) {
			ub_cancel(q->dns->ctx, q->subs[i].ub_id);
			q->subs[i].asked = 0;
		}
}

/* Takes q off its list, cancels what it has pending, frees it. */
static void
mta_dns_query_free(struct mta_dns_query *q)
{
	struct mta_dns *dns = q->dns;
	struct mta_dns_query **pp;
	size_t i;

	if (dns != NULL) {
		mta_dns_cancel_subs(q);
		if (q->where != 0) {
			TAILQ_REMOVE(q->where == Q_ACTIVE ? &dns->active :
			    &dns->done, q, entry);
			dns->npending--;
		}
		if (q->marked)
			for (pp = &dns->marked; *pp != NULL;
			    pp = &(*pp)->next_marked)
				if (*pp == q) {
					*pp = q->next_marked;
					break;
				}
	}
	if (q->timer != NULL)
		event_free(q->timer);
	for (i = 0; q->subs != NULL && i < q->nhosts * 2; i++)
		free(q->subs[i].addrs);
	free(q->subs);
	free(q->hosts);
	free(q);
}
