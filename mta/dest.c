/*
 * dest.c - routing and destinations of the delivery agent (private.h):
 * where each recipient goes (a transport, the relayhost, or the MX of
 * its domain), the destination's addresses (mta/dns.h), and its
 * connections (mta/client.h) within the concurrency limits.  A
 * connection tries the addresses in order until one greets; the jobs of
 * a destination none of whose addresses works end with the last error.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "mta/private.h"
#include "mta/runner.h"
#include "store/store.h"
#include "store/transport.h"

static void	 dest_resolve(struct dest *);
static void	 dest_dns_cb(const struct mta_dns_result *, void *);
static void	 dest_fail_all(struct dest *, int code, const char *enh,
		    const char *text);
static void	 conn_open(struct dest *, struct mconn *);
static void	 conn_cb(struct mta_client *, enum mta_client_event, void *);
static void	 conn_closed(struct mconn *);
static void	 conn_give(struct mconn *);
static void	 conn_idle_cb(evutil_socket_t, short, void *);
static void	 conn_free(struct mconn *);
static void	 conn_quit(struct mconn *);

/* Routing -------------------------------------------------------------- */

/* The domain of an address (after the last '@'), lower case. */
static void
addr_domain(const char *addr, char *buf, size_t size)
{
	const char *at = strrchr(addr, '@');
	size_t i;

	snprintf(buf, size, "%s", at != NULL ? at + 1 : "");
	for (i = 0; buf[i] != '\0'; i++)
		buf[i] = (char)tolower((unsigned char)buf[i]);
}

/*
 * A nexthop: "[host]" or "[host]:port" (that host, no MX; host may be an
 * address, "IPv6:" before an IPv6 one), "host" or "host:port" (the MX of
 * host).  0 done, -1 malformed (r->error says so).
 */
static int
route_nexthop(const char *nh, struct route *r)
{
	const char *end, *colon;
	char *e;
	unsigned long port;
	size_t len;
	unsigned char a[16];

	r->port = mta.cfg->mta_port;
	if (nh[0] == '[') {
		if ((end = strchr(nh, ']')) == NULL)
			goto bad;
		len = (size_t)(end - nh - 1);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			goto bad;
		if (len == 0 || len >= sizeof(r->name))
			goto bad;
		memcpy(r->name, nh + 1, len);
		r->name[len] = '\0';
		if (strncasecmp(r->name, "IPv6:", 5) == 0)
			memmove(r->name, r->name + 5, strlen(r->name + 5) + 1);
		r->kind = inet_pton(AF_INET, r->name, a) == 1 ||
		    inet_pton(AF_INET6, r->name, a) == 1 ? D_LITERAL : D_HOST;
	} else {
		colon = strrchr(nh, ':');
		len = colon != NULL ? (size_t)(colon - nh) : strlen(nh);
		if (len == 0 || len >= sizeof(r->name) ||
		    memchr(nh, ':', len) != NULL)
			goto bad;
		memcpy(r->name, nh, len);
		r->name[len] = '\0';
		r->kind = D_MX;
	}
	if (colon != NULL) {
		port = strtoul(colon + 1, &e, 10);
		if (colon[1] == '\0' || *e != '\0' || port == 0 ||
		    port > 65535)
			goto bad;
		r->port = (unsigned)port;
	}
	return 0;
bad:
	snprintf(r->error, sizeof(r->error), "bad nexthop '%.200s' in the "
	    "transport configuration", nh);
	return -1;
}

static enum mta_tls
route_tls(int mode)
{
	switch (mode) {
	case CONFIG_TLS_NONE:
		return MTA_TLS_NONE;
	case CONFIG_TLS_ENCRYPT:
		return MTA_TLS_ENCRYPT;
	case CONFIG_TLS_VERIFY:
		return MTA_TLS_VERIFY;
	default:
		return MTA_TLS_MAY;
	}
}

/* Where one recipient goes.  0 done (maybe r->error), -1 store error. */
int
mta_route_of(struct store_txn *t, const char *sender, const char *rcpt,
    struct route *r)
{
	struct store_transport tr;
	struct store_source src;
	char dom[256];
	const char *nh;
	int rc, tls = mta.cfg->mta_tls;

	memset(r, 0, sizeof(*r));
	addr_domain(rcpt, dom, sizeof(dom));
	if ((rc = store_transport_lookup(t, dom, &tr)) == -1)
		return -1;
	if (rc == 1) {
		nh = tr.nexthop;
		if (tr.tls != STORE_TLS_DEFAULT)
			tls = (int)tr.tls;
		snprintf(r->user, sizeof(r->user), "%s", tr.user);
		snprintf(r->pass, sizeof(r->pass), "%s", tr.password);
	} else if (mta.cfg->mta_relayhost[0] != '\0') {
		nh = mta.cfg->mta_relayhost;
		snprintf(r->user, sizeof(r->user), "%s",
		    mta.cfg->mta_relay_user);
		snprintf(r->pass, sizeof(r->pass), "%s",
		    mta.cfg->mta_relay_password);
	} else
		nh = "";
	r->tls = route_tls(tls);
	if (nh[0] != '\0') {
		(void)route_nexthop(nh, r);
	} else if (dom[0] == '[') {
		/* user@[192.0.2.1]: an address literal (RFC 5321 4.1.3) */
		if (route_nexthop(dom, r) == -1 || r->kind != D_LITERAL) {
			memset(r->error, 0, sizeof(r->error));
			snprintf(r->error, sizeof(r->error), "bad address "
			    "literal in <%.200s>", rcpt);
		}
	} else if (dom[0] == '\0') {
		snprintf(r->error, sizeof(r->error), "<%.200s> has no domain",
		    rcpt);
	} else {
		r->kind = D_MX;
		snprintf(r->name, sizeof(r->name), "%s", dom);
		r->port = mta.cfg->mta_port;
	}
	snprintf(r->src4, sizeof(r->src4), "%s", mta.cfg->mta_source4);
	snprintf(r->src6, sizeof(r->src6), "%s", mta.cfg->mta_source6);
	addr_domain(sender, dom, sizeof(dom));
	if (dom[0] != '\0') {
		if ((rc = store_source_get(t, dom, &src)) == -1)
			return -1;
		if (rc == 1) {
			if (src.addr4[0] != '\0')
				snprintf(r->src4, sizeof(r->src4), "%s",
				    src.addr4);
			if (src.addr6[0] != '\0')
				snprintf(r->src6, sizeof(r->src6), "%s",
				    src.addr6);
		}
	}
	return 0;
}

void
mta_route_key(const struct route *r, char *buf, size_t size)
{
	snprintf(buf, size, "%d|%s|%u|%d|%s|%s|%s|%s", (int)r->kind, r->name,
	    r->port, (int)r->tls, r->user, r->pass, r->src4, r->src6);
}

/* Destinations --------------------------------------------------------- */

struct dest *
mta_dest_get(const struct route *r)
{
	struct dest *d;
	char key[1024];

	mta_route_key(r, key, sizeof(key));
	TAILQ_FOREACH(d, &mta.dests, entry)
		if (strcmp(d->key, key) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->r = *r;
	snprintf(d->key, sizeof(d->key), "%s", key);
	TAILQ_INIT(&d->jobs);
	TAILQ_INIT(&d->conns);
	d->idle_since = mta_now();
	TAILQ_INSERT_TAIL(&mta.dests, d, entry);
	return d;
}

/* Frees destinations idle for a while (their DNS answers age out). */
void
mta_dest_gc(void)
{
	struct dest *d, *dn;
	int64_t now = mta_now();

	for (d = TAILQ_FIRST(&mta.dests); d != NULL; d = dn) {
		dn = TAILQ_NEXT(d, entry);
		if (d->njobs > 0 || d->nconns > 0 || d->resolving ||
		    now - d->idle_since < MTA_DNS_CACHE_S)
			continue;
		TAILQ_REMOVE(&mta.dests, d, entry);
		free(d->addrs);
		free(d);
	}
}

static void
dest_addr_add(struct dest *d, const char *host, const struct sockaddr *sa,
    socklen_t len, unsigned port)
{
	struct daddr *a;

	if (d->naddrs >= MTA_ADDRS_MAX)
		return;
	d->addrs = xreallocarray(d->addrs, d->naddrs + 1, sizeof(*d->addrs));
	a = &d->addrs[d->naddrs++];
	memset(a, 0, sizeof(*a));
	snprintf(a->host, sizeof(a->host), "%s", host);
	memcpy(&a->sa, sa, len);
	a->len = len;
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)&a->sa)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&a->sa)->sin6_port = htons(port);
}

static void
dest_dns_cb(const struct mta_dns_result *res, void *arg)
{
	struct dest *d = arg;
	const char *self = mta.cfg->mta_helo_name[0] != '\0' ?
	    mta.cfg->mta_helo_name : mta.cfg->hostname;
	size_t i, j;
	socklen_t len;

	d->resolving = 0;
	d->resolved_at = mta_now();
	d->dns_status = res->status;
	snprintf(d->dns_error, sizeof(d->dns_error), "%.512s", res->error);
	free(d->addrs);
	d->addrs = NULL;
	d->naddrs = 0;
	if (res->status == MTA_DNS_OK) {
		for (i = 0; i < res->nhosts; i++) {
			/* RFC 5321 5.1: never to ourselves */
			if (d->r.kind == D_MX &&
			    strcasecmp(res->hosts[i].name, self) == 0) {
				if (i == 0) {
					d->dns_status = MTA_DNS_NOTFOUND;
					snprintf(d->dns_error,
					    sizeof(d->dns_error), "mail for %s "
					    "loops back to myself", d->r.name);
				}
				break;
			}
			for (j = 0; j < res->hosts[i].naddrs; j++) {
				len = res->hosts[i].addrs[j].ss_family ==
				    AF_INET ? sizeof(struct sockaddr_in) :
				    sizeof(struct sockaddr_in6);
				dest_addr_add(d, res->hosts[i].name,
				    (const struct sockaddr *)
				    &res->hosts[i].addrs[j], len, d->r.port);
			}
		}
		if (d->naddrs == 0 && d->dns_status == MTA_DNS_OK) {
			d->dns_status = MTA_DNS_TEMP;
			snprintf(d->dns_error, sizeof(d->dns_error), "no "
			    "address found for the mail hosts of %s",
			    d->r.name);
		}
	}
	mta_dest_run(d);
}

static void
dest_resolve(struct dest *d)
{
	union {
		struct sockaddr_in	in;
		struct sockaddr_in6	in6;
	} u;
	int rc;

	memset(&u, 0, sizeof(u));
	if (d->r.kind == D_LITERAL) {
		free(d->addrs);
		d->addrs = NULL;
		d->naddrs = 0;
		if (inet_pton(AF_INET, d->r.name, &u.in.sin_addr) == 1) {
			u.in.sin_family = AF_INET;
			dest_addr_add(d, d->r.name, (struct sockaddr *)&u.in,
			    sizeof(u.in), d->r.port);
		} else if (inet_pton(AF_INET6, d->r.name,
		    &u.in6.sin6_addr) == 1) {
			u.in6.sin6_family = AF_INET6;
			dest_addr_add(d, d->r.name, (struct sockaddr *)&u.in6,
			    sizeof(u.in6), d->r.port);
		}
		d->dns_status = MTA_DNS_OK;
		d->resolved_at = mta_now();
		return;
	}
	d->resolving = 1;
	if (d->r.kind == D_MX)
		rc = mta_dns_mx(mta.dns, d->r.name, dest_dns_cb, d, &d->qid);
	else
		rc = mta_dns_host(mta.dns, d->r.name, dest_dns_cb, d, &d->qid);
	if (rc == -1) {
		d->resolving = 0;
		d->resolved_at = mta_now();
		d->dns_status = MTA_DNS_TEMP;
		snprintf(d->dns_error, sizeof(d->dns_error), "DNS lookup of "
		    "%s failed: %s", d->r.name, err_msg());
	}
}

/* Every waiting job of d ends with this outcome for its recipients. */
static void
dest_fail_all(struct dest *d, int code, const char *enh, const char *text)
{
	struct job *j;

	while ((j = TAILQ_FIRST(&d->jobs)) != NULL) {
		TAILQ_REMOVE(&d->jobs, j, entry);
		d->njobs--;
		mta_job_fail(j, code, enh, text, "none");
	}
}

/* Connections wanted for the waiting jobs: opens them, hands out jobs. */
void
mta_dest_run(struct dest *d)
{
	struct mconn *c;
	unsigned idle = 0, starting = 0;
	int64_t now = mta_now();

	if (mta.stopping)
		return;
	if (d->njobs == 0) {
		if (d->nconns == 0)
			d->idle_since = now;
		return;
	}
	if (d->resolving)
		return;
	if (d->resolved_at == 0 || (d->nconns == 0 &&
	    now - d->resolved_at >= (d->dns_status == MTA_DNS_OK ?
	    MTA_DNS_CACHE_S : MTA_DNS_FAIL_CACHE_S))) {
		dest_resolve(d);
		if (d->resolving)
			return;
	}
	switch (d->dns_status) {
	case MTA_DNS_OK:
		break;
	case MTA_DNS_NULLMX:
		dest_fail_all(d, 556, "5.1.10", d->dns_error[0] != '\0' ?
		    d->dns_error : "the domain accepts no mail (null MX)");
		return;
	case MTA_DNS_NOTFOUND:
		dest_fail_all(d, 550, "5.1.2", d->dns_error);
		return;
	default:
		dest_fail_all(d, 451, "4.4.3", d->dns_error);
		return;
	}
	/* Idle connections first. */
	TAILQ_FOREACH(c, &d->conns, entry) {
		if (d->njobs == 0)
			break;
		if (c->ready && c->job == NULL)
			conn_give(c);
	}
	TAILQ_FOREACH(c, &d->conns, entry)
		if (!c->greeted)
			starting++;
		else if (c->job == NULL && !c->quitting)
			idle++;
	while (d->njobs > starting + idle &&
	    d->nconns < mta.cfg->mta_dest_concurrency &&
	    mta.nconns < mta.cfg->mta_connections) {
		c = xcalloc(1, sizeof(*c));
		c->d = d;
		TAILQ_INSERT_TAIL(&d->conns, c, entry);
		d->nconns++;
		mta.nconns++;
		starting++;
		conn_open(d, c);
	}
}

/* Connections ---------------------------------------------------------- */

/* The source address for a family, parsed; 0 when none is set. */
static socklen_t
conn_source(const struct dest *d, int family, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET && d->r.src4[0] != '\0' &&
	    inet_pton(AF_INET, d->r.src4, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		return sizeof(*in);
	}
	if (family == AF_INET6 && d->r.src6[0] != '\0' &&
	    inet_pton(AF_INET6, d->r.src6, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		return sizeof(*in6);
	}
	return 0;
}

static unsigned
min_u(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

/*
 * Starts c's client on the first usable address from c->ai on.  0
 * started, -1 no address left (c->c NULL).
 */
static int
conn_start(struct mconn *c)
{
	struct dest *d = c->d;
	struct mta_client_cfg cc;
	struct sockaddr_storage src;
	struct daddr *a;
	int64_t now = mta_now();

	for (; c->ai < d->naddrs && c->tried < MTA_ADDRS_MAX; c->ai++) {
		a = &d->addrs[c->ai];
		if (a->down_until > now)
			continue;
		memset(&cc, 0, sizeof(cc));
		cc.helo = mta.cfg->mta_helo_name[0] != '\0' ?
		    mta.cfg->mta_helo_name : mta.cfg->hostname;
		cc.addr = (const struct sockaddr *)&a->sa;
		cc.addrlen = a->len;
		cc.sourcelen = conn_source(d, a->sa.ss_family, &src);
		cc.source = cc.sourcelen > 0 ? (struct sockaddr *)&src : NULL;
		cc.server_name = a->host;
		cc.tls = c->notls ? MTA_TLS_NONE : d->r.tls;
		cc.ssl_ctx = mta.ssl;
		if (d->r.user[0] != '\0') {
			cc.auth_user = d->r.user;
			cc.auth_pass = d->r.pass;
		}
		cc.connect_timeout = mta.cfg->mta_connect_timeout;
		cc.greeting_timeout = mta.cfg->mta_greeting_timeout;
		cc.command_timeout = mta.cfg->mta_command_timeout;
		cc.data_init_timeout = min_u(mta.cfg->mta_command_timeout, 120);
		cc.data_block_timeout = min_u(mta.cfg->mta_data_timeout, 180);
		cc.data_done_timeout = mta.cfg->mta_data_timeout;
		c->tried++;
		if (mta_client_new(mta.base, &cc, conn_cb, c, &c->c) == 0)
			return 0;
		log_warnx("connect to %s: %s", a->host, err_msg());
		a->down_until = now + MTA_ADDR_DOWN_S;
	}
	c->c = NULL;
	return -1;
}

static void
conn_open(struct dest *d, struct mconn *c)
{
	int64_t now = mta_now();
	size_t i;

	/* Addresses in order; those that failed lately only as a last
	   resort, when every one did. */
	c->ai = 0;
	for (i = 0; i < d->naddrs; i++)
		if (d->addrs[i].down_until <= now)
			break;
	if (i == d->naddrs)
		for (i = 0; i < d->naddrs; i++)
			d->addrs[i].down_until = 0;
	if (conn_start(c) == 0)
		return;
	conn_free(c);
	if (d->nconns == 0)
		dest_fail_all(d, 451, "4.4.1", "no mail host address could "
		    "be connected to");
}

/* Hands c the next waiting job of its destination, or lets it idle. */
static void
conn_give(struct mconn *c)
{
	struct dest *d = c->d;
	struct timeval tv;
	struct job *j, *jn;
	int rc, signing = 0;

	for (j = TAILQ_FIRST(&d->jobs); j != NULL; j = jn) {
		jn = TAILQ_NEXT(j, entry);
		/* A message being signed waits; the next one may go. */
		if ((rc = mta_sign_ready(j->m)) == 0) {
			signing = 1;
			continue;
		}
		TAILQ_REMOVE(&d->jobs, j, entry);
		d->njobs--;
		/* a failure below may end other jobs: from the start again */
		jn = TAILQ_FIRST(&d->jobs);
		signing = 0;
		if (rc == -1 || mta_job_load(j) == -1) {
			log_warnx("%s", err_msg());
			mta_job_fail(j, 451, "4.3.0", "the message could not be "
			    "read from the store", "none");
			continue;
		}
		if (mta_client_txn_check(&j->txn) == -1) {
			mta_job_fail(j, 553, "5.1.0", err_msg(), "none");
			continue;
		}
		if (mta_client_send(c->c, &j->txn) == -1) {
			/* not ready after all: put the job back */
			TAILQ_INSERT_HEAD(&d->jobs, j, entry);
			d->njobs++;
			return;
		}
		if (c->idle_ev != NULL)
			evtimer_del(c->idle_ev);
		c->job = j;
		c->ready = 0;
		j->sent = 1;
		j->m->inflight++;
		return;
	}
	c->ready = 1;
	/*
	 * While a message of this destination is being signed, the end of
	 * its signature runs the destination again (sign.c): the connection
	 * waits for it, at least a second.
	 */
	if (mta.cfg->mta_reuse_time == 0 && !signing) {
		conn_quit(c);
		return;
	}
	if (c->idle_ev == NULL)
		c->idle_ev = evtimer_new(mta.base, conn_idle_cb, c);
	tv.tv_sec = mta.cfg->mta_reuse_time > 0 ? mta.cfg->mta_reuse_time : 1;
	tv.tv_usec = 0;
	evtimer_add(c->idle_ev, &tv);
}

static void
conn_idle_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct mconn *c = arg;

	(void)fd;
	(void)ev;
	if (c->job == NULL && c->c != NULL)
		conn_quit(c);
}

/* QUIT: the connection takes no more jobs (CLOSED follows). */
static void
conn_quit(struct mconn *c)
{
	c->ready = 0;
	c->quitting = 1;
	mta_client_quit(c->c);
}

static void
conn_cb(struct mta_client *cl, enum mta_client_event ev, void *arg)
{
	struct mconn *c = arg;
	const struct mta_reply_ehlo *eh;
	struct job *j;

	(void)cl;
	switch (ev) {
	case MTA_CLIENT_READY:
		c->greeted = 1;
		conn_give(c);
		break;
	case MTA_CLIENT_DONE:
		j = c->job;
		c->job = NULL;
		eh = mta_client_ehlo(c->c);
		if (j != NULL)
			mta_job_done(j, mta_client_peer(c->c), eh->dsn);
		conn_give(c);
		break;
	case MTA_CLIENT_CLOSED:
		conn_closed(c);
		break;
	}
}

static void
conn_closed(struct mconn *c)
{
	struct mta_client_error errbuf = *mta_client_error(c->c);
	const struct mta_client_error *err = &errbuf;
	struct dest *d = c->d;
	struct mconn *o;
	char peer[300];
	int code, alive = 0;
	const char *enh;

	snprintf(peer, sizeof(peer), "%s", mta_client_peer(c->c));
	if (c->job != NULL) {
		struct job *j = c->job;

		c->job = NULL;
		mta_job_done(j, peer, 0);
		conn_free(c);
		mta_dest_run(d);
		return;
	}
	if (c->greeted) {
		/* idle and closed (by us, or by the server) */
		conn_free(c);
		mta_dest_run(d);
		return;
	}
	/* It never got ready: try another address (or plaintext). */
	if (err->code != 0)
		log_info("%s", err->text);
	mta_client_free(&c->c);
	if (err->tls_failed && d->r.tls == MTA_TLS_MAY && !c->notls) {
		c->notls = 1;
		c->tried--;
	} else {
		if (!err->auth_failed && c->ai < d->naddrs) {
			d->addrs[c->ai].down_until = mta_now() +
			    MTA_ADDR_DOWN_S;
			c->ai++;
		}
		c->notls = 0;
		if (err->auth_failed)
			c->ai = d->naddrs;	/* the same credentials fail */
	}
	if (conn_start(c) == 0)
		return;
	/* No address left.  Others of the destination may still work. */
	TAILQ_FOREACH(o, &d->conns, entry)
		if (o != c && o->c != NULL)
			alive = 1;
	code = err->code >= 400 ? err->code : 451;
	if (err->auth_failed || !err->remote || code < 500)
		code = code >= 500 ? 451 : code;
	enh = err->enhanced[0] != '\0' && err->enhanced[0] ==
	    (char)('0' + code / 100) ? err->enhanced : code >= 500 ?
	    "5.0.0" : "4.4.1";
	if (!alive)
		dest_fail_all(d, code, enh, err->text);
	conn_free(c);
}

static void
conn_free(struct mconn *c)
{
	struct dest *d = c->d;

	if (c->c != NULL)
		mta_client_free(&c->c);
	if (c->idle_ev != NULL)
		event_free(c->idle_ev);
	TAILQ_REMOVE(&d->conns, c, entry);
	d->nconns--;
	mta.nconns--;
	if (d->nconns == 0 && d->njobs == 0)
		d->idle_since = mta_now();
	free(c);
}

void
mta_dest_free_all(void)
{
	struct dest *d;
	struct mconn *c;
	struct job *j;

	while ((d = TAILQ_FIRST(&mta.dests)) != NULL) {
		while ((c = TAILQ_FIRST(&d->conns)) != NULL) {
			if (c->job != NULL)
				mta_job_free(c->job);
			c->job = NULL;
			conn_free(c);
		}
		while ((j = TAILQ_FIRST(&d->jobs)) != NULL) {
			TAILQ_REMOVE(&d->jobs, j, entry);
			mta_job_free(j);
		}
		TAILQ_REMOVE(&mta.dests, d, entry);
		free(d->addrs);
		free(d);
	}
}
