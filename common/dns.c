/*
 * dns.c - see dns.h.
 *
 * libunbound runs its resolver in a thread of its own (ub_ctx_async(1):
 * its default is to fork a process) and writes answers to a pipe,
 * ub_fd(); an EV_READ|EV_PERSIST event on that descriptor calls
 * ub_process(), which runs the libunbound callback of every answer that
 * arrived.  That callback only records the answer and moves its query to
 * the done list; an event of its own runs the callers' callbacks from
 * there.  So a caller's callback never runs inside libunbound, inside
 * the call that started its query, or while this file walks its lists,
 * and it may start, cancel and free as it likes.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>
#include <unistd.h>

#include "common/config.h"
#include "common/dns.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define DNS_CLASS_IN		1
#define DNS_RCODE_NOERROR	0
#define DNS_RCODE_SERVFAIL	2
#define DNS_RCODE_NXDOMAIN	3

enum { Q_ACTIVE = 1, Q_DONE = 2 };

struct dns_query {
	TAILQ_ENTRY(dns_query)	 entry;		/* active or done list */
	struct dns		*dns;
	uint64_t		 qid;
	int			 where;		/* Q_ACTIVE, Q_DONE */
	int			 asked;		/* at libunbound */
	int			 ub_id;
	char			 name[DNS_NAME_MAX + 1];
	dns_cb			*cb;
	void			*arg;
	struct event		*timer;
	unsigned		 timeout_ms;
	struct ub_result	*res;		/* DATA: its records */
	struct dns_answer	 ans;
	char			 error[DNS_ERROR_MAX];
};

TAILQ_HEAD(dns_queries, dns_query);

struct dns {
	struct event_base	*base;
	struct ub_ctx		*ctx;
	struct event		*ub_ev;		/* ub_fd() readable */
	struct event		*done_ev;	/* run the done list */
	struct dns_queries	 active;
	struct dns_queries	 done;
	size_t			 npending;	/* active + done */
	uint64_t		 next_qid;
	unsigned		 timeout;	/* seconds */
	int			 running;	/* in a caller's callback */
	int			 dying;		/* dns_free() in one */
};

static void	dns_ub_cb(void *, int, struct ub_result *);
static void	dns_ub_read(evutil_socket_t, short, void *);
static void	dns_timer(evutil_socket_t, short, void *);
static void	dns_run_done(evutil_socket_t, short, void *);
static void	dns_done(struct dns_query *, enum dns_status);
static void	dns_query_free(struct dns_query *);
static struct dns_query *dns_find(struct dns_queries *, uint64_t);
static void	dns_destroy(struct dns *);
static const char *dns_type_name(int);
static void	dns_errf(struct dns_query *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

int
dns_ub_new(const struct config *c, struct ub_ctx **r)
{
	struct ub_ctx *ctx;
	char fwd[sizeof(c->dns_resolvers[0].addr) + 8];
	size_t i;
	int rc;

	*r = NULL;
	if (c->dns_dnssec && access(c->dns_trust_anchor, R_OK) != 0)
		return err_set(ERR_NOTFOUND, "[dns] trust_anchor %s: %s "
		    "(dnssec = yes needs it; install dns-root-data or run "
		    "unbound-anchor)", c->dns_trust_anchor, strerror(errno));
	if ((ctx = ub_ctx_create()) == NULL)
		return err_set(ERR_TEMP, "libunbound: cannot create a "
		    "resolver context");
	/* A thread, not a forked process (libunbound's default). */
	if ((rc = ub_ctx_async(ctx, 1)) != 0)
		goto ub_fail;
	/*
	 * A resolver on the loopback (a local unbound, the tests' server)
	 * is what `resolver = 127.0.0.1` means; unbound refuses to query
	 * localhost unless told.  A server that timed out once is kept
	 * being asked instead of being skipped for 15 minutes: one silent
	 * domain must not make every lookup fail.
	 */
	if ((rc = ub_ctx_set_option(ctx, "do-not-query-localhost:",
	    "no")) != 0 ||
	    (rc = ub_ctx_set_option(ctx, "infra-keep-probing:",
	    "yes")) != 0)
		goto ub_fail;
	/*
	 * With resolvers of its own choosing the operator (a lab, the
	 * tests) may use the special-use name test. (RFC 6761), which
	 * libunbound otherwise answers NXDOMAIN itself ("nodefault" does
	 * not undo that through ub_ctx_set_option(); "transparent" does).
	 * The same holds for the reverse zone of 127/8, which DNSBLs use
	 * (127.0.0.2 is every list's test entry) and the tests need.
	 */
	if (c->dns_nresolvers > 0 && ((rc = ub_ctx_set_option(ctx,
	    "local-zone:", "test. transparent")) != 0 ||
	    (rc = ub_ctx_set_option(ctx, "local-zone:",
	    "127.in-addr.arpa. transparent")) != 0))
		goto ub_fail;
	for (i = 0; i < c->dns_nresolvers; i++) {
		snprintf(fwd, sizeof(fwd), "%s@%u", c->dns_resolvers[i].addr,
		    c->dns_resolvers[i].port);
		if ((rc = ub_ctx_set_fwd(ctx, fwd)) != 0)
			goto ub_fail;
	}
	if (c->dns_nresolvers == 0 &&
	    (rc = ub_ctx_resolvconf(ctx, NULL)) != 0)
		goto ub_fail;
	if (c->dns_dnssec)
		rc = ub_ctx_add_ta_file(ctx, c->dns_trust_anchor);
	else
		rc = ub_ctx_set_option(ctx, "module-config:", "iterator");
	if (rc != 0)
		goto ub_fail;
	*r = ctx;
	return 0;

ub_fail:
	ub_ctx_delete(ctx);
	return err_set(ERR_TEMP, "libunbound: cannot set up the resolver: "
	    "%s%s", ub_strerror(rc), rc == UB_READFILE ?
	    " (reading /etc/resolv.conf or the trust anchor)" : "");
}

int
dns_new(struct event_base *base, const struct config *c, struct dns **r)
{
	struct dns *dns;
	int fd;

	*r = NULL;
	dns = xcalloc(1, sizeof(*dns));
	dns->base = base;
	dns->timeout = c->dns_timeout;
	dns->next_qid = 1;
	TAILQ_INIT(&dns->active);
	TAILQ_INIT(&dns->done);
	if (dns_ub_new(c, &dns->ctx) == -1) {
		free(dns);
		return -1;
	}
	if ((fd = ub_fd(dns->ctx)) < 0) {
		ub_ctx_delete(dns->ctx);
		free(dns);
		return err_set(ERR_TEMP, "libunbound: cannot set up the "
		    "resolver: %s", ub_strerror(fd));
	}
	dns->ub_ev = event_new(base, fd, EV_READ | EV_PERSIST, dns_ub_read,
	    dns);
	dns->done_ev = event_new(base, -1, 0, dns_run_done, dns);
	if (dns->ub_ev == NULL || dns->done_ev == NULL ||
	    event_add(dns->ub_ev, NULL) != 0) {
		dns_destroy(dns);
		return err_set(ERR_TEMP, "libevent: cannot watch the "
		    "resolver");
	}
	*r = dns;
	return 0;
}

void
dns_free(struct dns **dnsp)
{
	struct dns *dns = *dnsp;
	struct dns_query *q;

	if (dns == NULL)
		return;
	*dnsp = NULL;
	if (dns->running) {
		/* In a callback: dns_run_done() frees after it. */
		while ((q = TAILQ_FIRST(&dns->active)) != NULL)
			dns_query_free(q);
		while ((q = TAILQ_FIRST(&dns->done)) != NULL)
			dns_query_free(q);
		dns->dying = 1;
		return;
	}
	dns_destroy(dns);
}

static void
dns_destroy(struct dns *dns)
{
	struct dns_query *q;

	while ((q = TAILQ_FIRST(&dns->active)) != NULL)
		dns_query_free(q);
	while ((q = TAILQ_FIRST(&dns->done)) != NULL)
		dns_query_free(q);
	if (dns->ub_ev != NULL)
		event_free(dns->ub_ev);
	if (dns->done_ev != NULL)
		event_free(dns->done_ev);
	ub_ctx_delete(dns->ctx);
	free(dns);
}

size_t
dns_pending(const struct dns *dns)
{
	return dns->npending;
}

unsigned
dns_timeout(const struct dns *dns)
{
	return dns->timeout;
}

int
dns_query(struct dns *dns, const char *name, int rrtype,
    unsigned timeout_ms, dns_cb *cb, void *arg, uint64_t *qid_r)
{
	struct dns_query *q;
	struct timeval tv;
	int rc;

	if (qid_r != NULL)
		*qid_r = 0;
	if (dns->npending >= DNS_PENDING_MAX)
		return err_set(ERR_TEMP, "%zu DNS queries pending already",
		    dns->npending);
	q = xcalloc(1, sizeof(*q));
	if (!dns_name_ok(name, q->name, sizeof(q->name))) {
		free(q);
		return err_set(ERR_INVALID, "'%.80s' is not a domain name",
		    name);
	}
	q->dns = dns;
	q->qid = dns->next_qid++;
	q->cb = cb;
	q->arg = arg;
	q->ans.name = q->name;
	q->ans.rrtype = rrtype;
	q->ans.error = q->error;
	q->timeout_ms = timeout_ms != 0 ? timeout_ms : dns->timeout * 1000;
	TAILQ_INSERT_TAIL(&dns->active, q, entry);
	q->where = Q_ACTIVE;
	dns->npending++;
	q->timer = evtimer_new(dns->base, dns_timer, q);
	tv.tv_sec = q->timeout_ms / 1000;
	tv.tv_usec = (q->timeout_ms % 1000) * 1000;
	if (q->timer == NULL || evtimer_add(q->timer, &tv) != 0) {
		dns_query_free(q);
		return err_set(ERR_TEMP, "libevent: cannot add a timer");
	}
	rc = ub_resolve_async(dns->ctx, q->name, rrtype, DNS_CLASS_IN, q,
	    dns_ub_cb, &q->ub_id);
	if (rc != 0) {
		err_set(ERR_TEMP, "Name service error for name=%s type=%s: "
		    "%s", q->name, dns_type_name(rrtype), ub_strerror(rc));
		dns_query_free(q);
		return -1;
	}
	q->asked = 1;
	if (qid_r != NULL)
		*qid_r = q->qid;
	return 0;
}

void
dns_cancel(struct dns *dns, uint64_t qid)
{
	struct dns_query *q;

	if ((q = dns_find(&dns->active, qid)) != NULL ||
	    (q = dns_find(&dns->done, qid)) != NULL)
		dns_query_free(q);
}

static struct dns_query *
dns_find(struct dns_queries *list, uint64_t qid)
{
	struct dns_query *q;

	TAILQ_FOREACH(q, list, entry)
		if (q->qid == qid)
			break;
	return q;
}

/* An error text into the query's answer, cut if need be. */
static void
dns_errf(struct dns_query *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->error, sizeof(q->error), fmt, ap);
	va_end(ap);
}

static const char *
dns_type_name(int t)
{
	switch (t) {
	case DNS_T_A:
		return "A";
	case DNS_T_PTR:
		return "PTR";
	case DNS_T_MX:
		return "MX";
	case DNS_T_TXT:
		return "TXT";
	case DNS_T_AAAA:
		return "AAAA";
	}
	return "?";
}

/* libunbound's answer, inside ub_process(): record it, onto done. */
static void
dns_ub_cb(void *data, int err, struct ub_result *res)
{
	struct dns_query *q = data;
	const char *type = dns_type_name(q->ans.rrtype);
	enum dns_status st;

	q->asked = 0;
	if (err == 0 && res != NULL)
		q->ans.secure = res->secure && !res->bogus;
	if (err != 0 || res == NULL) {
		st = DNS_TEMP;
		dns_errf(q, "Name service error for name=%s type=%s: %s",
		    q->name, type, ub_strerror(err));
	} else if (res->bogus) {
		st = DNS_TEMP;
		dns_errf(q, "DNSSEC validation failed for name=%s type=%s: "
		    "%s", q->name, type, res->why_bogus != NULL ?
		    res->why_bogus : "bogus answer");
	} else if (res->rcode == DNS_RCODE_NXDOMAIN) {
		st = DNS_NXDOMAIN;
		dns_errf(q, "Host or domain name not found. Name service "
		    "error for name=%s type=%s: Host not found", q->name,
		    type);
	} else if (res->rcode != DNS_RCODE_NOERROR) {
		st = DNS_TEMP;
		dns_errf(q, "Host or domain name not found. Name service "
		    "error for name=%s type=%s: Host not found, try again%s",
		    q->name, type, res->rcode == DNS_RCODE_SERVFAIL ? "" :
		    " (the server refused the query)");
	} else if (!res->havedata) {
		st = DNS_NODATA;
		dns_errf(q, "Host or domain name not found. Name service "
		    "error for name=%s type=%s: Host found but no data "
		    "record of requested type", q->name, type);
	} else {
		st = DNS_DATA;
		q->res = res;
		res = NULL;
		for (q->ans.count = 0; q->res->data[q->ans.count] != NULL;
		    q->ans.count++)
			;
		q->ans.data = (const unsigned char *const *)q->res->data;
		q->ans.len = q->res->len;
		q->ans.ttl = q->res->ttl > 0 ? (unsigned)q->res->ttl : 0;
	}
	if (res != NULL)
		ub_resolve_free(res);
	dns_done(q, st);
}

static void
dns_ub_read(evutil_socket_t fd, short what, void *arg)
{
	struct dns *dns = arg;
	int rc;

	if ((rc = ub_process(dns->ctx)) != 0)
		log_warnx("dns: libunbound: %s", ub_strerror(rc));
}

/* The query ran out of time. */
static void
dns_timer(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;

	if (q->asked) {
		ub_cancel(q->dns->ctx, q->ub_id);
		q->asked = 0;
	}
	dns_errf(q, "Name service error for name=%s type=%s: no answer "
	    "within %u seconds", q->name, dns_type_name(q->ans.rrtype),
	    (q->timeout_ms + 999) / 1000);
	dns_done(q, DNS_TEMP);
}

/* The query has its answer: its callback runs from the done event. */
static void
dns_done(struct dns_query *q, enum dns_status st)
{
	struct dns *dns = q->dns;

	if (q->timer != NULL) {
		event_free(q->timer);
		q->timer = NULL;
	}
	q->ans.status = st;
	TAILQ_REMOVE(&dns->active, q, entry);
	TAILQ_INSERT_TAIL(&dns->done, q, entry);
	q->where = Q_DONE;
	event_active(dns->done_ev, 0, 0);
}

/* Runs the callbacks of answered queries, on the loop. */
static void
dns_run_done(evutil_socket_t fd, short what, void *arg)
{
	struct dns *dns = arg;
	struct dns_query *q;

	dns->running = 1;
	while ((q = TAILQ_FIRST(&dns->done)) != NULL) {
		TAILQ_REMOVE(&dns->done, q, entry);
		q->where = 0;
		dns->npending--;
		q->cb(&q->ans, q->arg);
		q->dns = NULL;
		dns_query_free(q);
		if (dns->dying) {
			dns->running = 0;
			dns_destroy(dns);
			return;
		}
	}
	dns->running = 0;
}

/* Takes q off its list, cancels it at libunbound, frees it. */
static void
dns_query_free(struct dns_query *q)
{
	struct dns *dns = q->dns;

	if (dns != NULL) {
		if (q->asked)
			ub_cancel(dns->ctx, q->ub_id);
		if (q->where != 0) {
			TAILQ_REMOVE(q->where == Q_ACTIVE ? &dns->active :
			    &dns->done, q, entry);
			dns->npending--;
		}
	}
	if (q->timer != NULL)
		event_free(q->timer);
	if (q->res != NULL)
		ub_resolve_free(q->res);
	free(q);
}

/* Parsers ----------------------------------------------------------------- */

int
dns_name_ok(const char *name, char *out, size_t outsz)
{
	size_t n = strlen(name), i, label = 0;
	unsigned char ch;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > DNS_NAME_MAX || n >= outsz)
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

int
dns_wire_name(const unsigned char *d, size_t len, char *out, size_t outsz,
    size_t *used_r)
{
	size_t i = 0, o = 0, l, k;

	if (outsz == 0)
		return -1;
	for (;;) {
		if (i >= len)
			return -1;
		l = d[i++];
		if (l == 0)
			break;
		/* > 63: a compression pointer or a reserved label type;
		   libunbound hands out rdata uncompressed. */
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
	if (o > DNS_NAME_MAX)
		return -1;
	out[o] = '\0';
	if (used_r != NULL)
		*used_r = i;
	return 0;
}

int
dns_txt_text(const unsigned char *d, size_t len, char *out, size_t outsz)
{
	size_t i = 0, o = 0, l, k;

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	/* At least one <character-string>, each a length and its bytes. */
	if (len == 0)
		return -1;
	while (i < len) {
		l = d[i++];
		if (i + l > len)
			return -1;
		for (k = 0; k < l; k++)
			if (o + 1 < outsz)
				out[o++] = d[i + k] >= ' ' && d[i + k] < 127 ?
				    (char)d[i + k] : '?';
		i += l;
	}
	out[o] = '\0';
	return 0;
}

int
dns_reverse_name(const char *ip, const char *zone, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char a[16];
	char buf[DNS_REVERSE_MAX + 1];
	size_t o = 0;
	int i, n;

	if (inet_pton(AF_INET, ip, a) == 1)
		;
	else if (inet_pton(AF_INET6, ip, a) == 1) {
		/* An IPv4 client on an IPv6 socket is listed as IPv4. */
		if (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
			memmove(a, a + 12, 4);
		else {
			for (i = 15; i >= 0; i--) {
				buf[o++] = hex[a[i] & 0xf];
				buf[o++] = '.';
				buf[o++] = hex[a[i] >> 4];
				buf[o++] = '.';
			}
			buf[o] = '\0';
			n = snprintf(out, outsz, "%s%s", buf,
			    zone != NULL ? zone : "ip6.arpa");
			return n > 0 && (size_t)n < outsz;
		}
	} else
		return 0;
	n = snprintf(out, outsz, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0],
	    zone != NULL ? zone : "in-addr.arpa");
	return n > 0 && (size_t)n < outsz;
}
