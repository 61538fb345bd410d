/*
 * runner.c - see runner.h.
 *
 * Objects:
 * - qmsg: a queue entry being worked on (a copy of the store's entry,
 *   each recipient's state and result, the message bytes once needed).
 * - job: the recipients of one qmsg that share a destination, at most
 *   [mta] destination_recipients of them: one SMTP transaction.
 * - dest: where jobs go (the MX of a domain, or a nexthop host), with
 *   its addresses, waiting jobs and connections.
 * - mconn: one connection of a dest (an mta_client), trying the dest's
 *   addresses in order until one greets us.
 * Outcomes are queued as ops and committed together within MTA_COMMIT_MS
 * (commit_cb).
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "deliver/deliver.h"
#include "deliver/dsn.h"
#include "mta/client.h"
#include "mta/dns.h"
#include "mta/runner.h"
#include "store/message.h"
#include "store/queue.h"
#include "store/store.h"
#include "store/transport.h"

#define HASH_SIZE	4096

/* Recipient states */
enum rstate {
	R_WAIT = 0,	/* routed, in a job not yet finished */
	R_SENT,		/* the remote took it (2xx) */
	R_FAILED,	/* permanent failure: bounce */
	R_DEFERRED,	/* temporary failure: retry */
};

enum dkind {
	D_MX,		/* the MX of name */
	D_HOST,		/* name itself (A/AAAA), no MX lookup */
	D_LITERAL,	/* an address literal: no DNS */
};

struct route {
	enum dkind	kind;
	char		name[256];
	unsigned	port;
	enum mta_tls	tls;
	char		user[321];
	char		pass[257];
	char		src4[46], src6[46];
	/* a routing error (bad nexthop): permanent for the recipient */
	char		error[256];
};

struct qmsg;
struct dest;

struct job {
	TAILQ_ENTRY(job)	 entry;
	struct qmsg		*m;
	struct dest		*d;
	size_t			 n;
	size_t			*idx;		/* into m->e.rcpts */
	struct mta_client_rcpt	*cr;
	struct mta_client_txn	 txn;
};
TAILQ_HEAD(jobq, job);

struct qmsg {
	struct qmsg		*hnext;		/* in the id hash */
	struct store_queue_entry e;
	enum rstate		*state;
	char			(*relay)[256];	/* remote MTA of each result */
	uint8_t			*relayed;	/* sent to a server without DSN */
	unsigned		 njobs;		/* jobs not finished */
	void			*data;		/* the message, once loaded */
	size_t			 len;
	int			 loaded;
};

struct daddr {
	char			 host[256];
	struct sockaddr_storage	 sa;
	socklen_t		 len;
	int64_t			 down_until;
};

struct mconn;
TAILQ_HEAD(connq, mconn);

struct dest {
	TAILQ_ENTRY(dest)	 entry;
	struct route		 r;
	char			 key[1024];
	/* addresses */
	int			 resolving;
	uint64_t		 qid;
	int64_t			 resolved_at;	/* 0: never */
	enum mta_dns_status	 dns_status;
	char			 dns_error[600];
	struct daddr		*addrs;
	size_t			 naddrs;
	/* work */
	struct jobq		 jobs;
	size_t			 njobs;
	struct connq		 conns;
	unsigned		 nconns;
	int64_t			 idle_since;
};
TAILQ_HEAD(destq, dest);

struct mconn {
	TAILQ_ENTRY(mconn)	 entry;
	struct dest		*d;
	struct mta_client	*c;
	size_t			 ai;		/* address being tried */
	unsigned		 tried;		/* addresses tried */
	int			 notls;		/* MAY fell back to plaintext */
	int			 ready;		/* idle: may take a job */
	int			 greeted;	/* READY was reached once */
	struct job		*job;		/* in flight */
	struct event		*idle_ev;
};

/* A change to write back. */
enum opkind { OP_SENT, OP_FINAL };
struct op {
	struct op	*next;
	enum opkind	 kind;
	struct qmsg	*m;
	/* OP_SENT: these recipients were delivered */
	char		(*addrs)[STORE_ADDRESS_MAX + 1];
	size_t		 naddrs;
};

static struct {
	struct event_base	*base;
	struct store		*st;
	const struct config	*cfg;
	struct deliver_config	 dcf;
	struct mta_dns		*dns;
	SSL_CTX			*ssl;
	struct event		*poll_ev;
	struct event		*commit_ev;
	uint64_t		 gen;
	int			 gen_known;
	int64_t			 last_scan;
	int64_t			 earliest;	/* next entry coming due */
	struct qmsg		*hash[HASH_SIZE];
	size_t			 nactive;
	struct destq		 dests;
	unsigned		 nconns;
	struct op		*ops, **opstail;
	size_t			 nops;
	int			 stopping;
} S;

static int64_t	 sched_now(void);
static struct qmsg *qmsg_find(uint64_t);
static void	 qmsg_add(struct qmsg *);
static void	 qmsg_free(struct qmsg *);
static void	 poll_cb(evutil_socket_t, short, void *);
static void	 scan(void);
static int	 scan_one(const struct store_queue_entry *, void *);
static int	 route_of(struct store_txn *, const char *sender,
		    const char *rcpt, struct route *);
static void	 route_key(const struct route *, char *, size_t);
static struct dest *dest_get(const struct route *);
static void	 dest_run(struct dest *);
static void	 dest_resolve(struct dest *);
static void	 dest_dns_cb(const struct mta_dns_result *, void *);
static void	 dest_fail_all(struct dest *, int code, const char *enh,
		    const char *text);
static void	 dest_gc(void);
static void	 job_add(struct qmsg *, struct dest *, size_t *, size_t);
static void	 job_done(struct job *, const char *relay, int has_dsn);
static void	 job_free(struct job *);
static int	 job_load(struct job *);
static void	 conn_open(struct dest *, struct mconn *);
static void	 conn_cb(struct mta_client *, enum mta_client_event, void *);
static void	 conn_closed(struct mconn *);
static void	 conn_give(struct mconn *);
static void	 conn_idle_cb(evutil_socket_t, short, void *);
static void	 conn_free(struct mconn *);
static void	 msg_finish(struct qmsg *);
static void	 op_push(struct op *);
static void	 commit_cb(evutil_socket_t, short, void *);
static int	 commit_txn(struct store_txn *, void *);
static void	 log_rcpt(const struct qmsg *, size_t, const char *relay,
		    const char *status);

static int64_t
sched_now(void)
{
	return (int64_t)store_now();
}

unsigned
mta_runner_backoff(const struct config *cfg, unsigned attempts)
{
	uint64_t t = cfg->queue_retry_min;

	while (attempts > 1 && t < cfg->queue_retry_max) {
		t *= 2;
		attempts--;
	}
	return t > cfg->queue_retry_max ? cfg->queue_retry_max : (unsigned)t;
}

/* The in-flight set ---------------------------------------------------- */

static struct qmsg *
qmsg_find(uint64_t id)
{
	struct qmsg *m;

	for (m = S.hash[id % HASH_SIZE]; m != NULL; m = m->hnext)
		if (m->e.id == id)
			return m;
	return NULL;
}

static void
qmsg_add(struct qmsg *m)
{
	m->hnext = S.hash[m->e.id % HASH_SIZE];
	S.hash[m->e.id % HASH_SIZE] = m;
	S.nactive++;
}

static void
qmsg_free(struct qmsg *m)
{
	struct qmsg **pp;

	for (pp = &S.hash[m->e.id % HASH_SIZE]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == m) {
			*pp = m->hnext;
			S.nactive--;
			break;
		}
	store_queue_entry_clear(&m->e);
	free(m->state);
	free(m->relay);
	free(m->relayed);
	free(m->data);
	free(m);
}

/* Scanning the queue --------------------------------------------------- */

struct scan_ctx {
	struct store_txn *txn;
	int64_t		 now;
	struct qmsg	**found;
	struct route	**routes;	/* per found message, per rcpt */
	size_t		 n;
	int64_t		 earliest;
};

static int
gen_txn(struct store_txn *t, void *ctx)
{
	return store_queue_generation(t, ctx);
}

static void
poll_cb(evutil_socket_t fd, short ev, void *arg)
{
	uint64_t gen = 0;
	int64_t now = sched_now();

	(void)fd;
	(void)ev;
	(void)arg;
	if (S.stopping)
		return;
	if (store_read(S.st, gen_txn, &gen) == -1) {
		log_warnx("queue: %s", err_msg());
		return;
	}
	if (!S.gen_known || gen != S.gen || (S.earliest != 0 &&
	    now >= S.earliest) || now - S.last_scan >= MTA_RESCAN_S) {
		S.gen = gen;
		S.gen_known = 1;
		scan();
	}
	dest_gc();
}

static int
scan_one(const struct store_queue_entry *e, void *arg)
{
	struct scan_ctx *sc = arg;
	struct qmsg *m;
	size_t i;

	if (e->flags & STORE_QF_HOLD)
		return 0;
	if (qmsg_find(e->id) != NULL)
		return 0;
	if (e->next_try > sc->now) {
		if (sc->earliest == 0 || e->next_try < sc->earliest)
			sc->earliest = e->next_try;
		return 0;
	}
	if (S.nactive + sc->n >= MTA_ACTIVE_MAX) {
		if (sc->earliest == 0 || sc->now + 1 < sc->earliest)
			sc->earliest = sc->now + 1;
		return 0;
	}
	m = xcalloc(1, sizeof(*m));
	m->e = *e;
	m->e.rcpts = xreallocarray(NULL, e->nrcpts, sizeof(*e->rcpts));
	memcpy(m->e.rcpts, e->rcpts, e->nrcpts * sizeof(*e->rcpts));
	m->state = xcalloc(e->nrcpts, sizeof(*m->state));
	m->relay = xcalloc(e->nrcpts, sizeof(*m->relay));
	m->relayed = xcalloc(e->nrcpts, sizeof(*m->relayed));
	sc->found = xreallocarray(sc->found, sc->n + 1, sizeof(*sc->found));
	sc->routes = xreallocarray(sc->routes, sc->n + 1,
	    sizeof(*sc->routes));
	sc->routes[sc->n] = xcalloc(e->nrcpts, sizeof(struct route));
	for (i = 0; i < e->nrcpts; i++)
		if (route_of(sc->txn, e->sender, e->rcpts[i].addr,
		    &sc->routes[sc->n][i]) == -1)
			return -1;
	sc->found[sc->n++] = m;
	return 0;
}

static int
scan_txn(struct store_txn *t, void *arg)
{
	struct scan_ctx *sc = arg;

	sc->txn = t;
	return store_queue_list(t, scan_one, sc);
}

static void
scan_ctx_free(struct scan_ctx *sc, int keep)
{
	size_t i;

	for (i = 0; i < sc->n; i++) {
		if (!keep)
			qmsg_free(sc->found[i]);
		free(sc->routes[i]);
	}
	free(sc->found);
	free(sc->routes);
	memset(sc, 0, sizeof(*sc));
}

/*
 * Reads the due entries and hands their recipients to destinations.
 * The read transaction only copies; jobs are made after it ended.
 */
static void
scan(void)
{
	struct scan_ctx sc;
	struct qmsg *m;
	struct route *r;
	size_t i, j, k, *idx;
	struct dest *d, *dn;

	memset(&sc, 0, sizeof(sc));
	sc.now = sched_now();
	S.last_scan = sc.now;
	if (store_read(S.st, scan_txn, &sc) == -1) {
		log_warnx("queue scan: %s", err_msg());
		scan_ctx_free(&sc, 0);
		return;
	}
	S.earliest = sc.earliest;
	for (i = 0; i < sc.n; i++) {
		m = sc.found[i];
		qmsg_add(m);
		idx = xcalloc(m->e.nrcpts, sizeof(*idx));
		/* Group the recipients by destination, in order. */
		for (j = 0; j < m->e.nrcpts; j++) {
			if (m->state[j] != R_WAIT || idx[j] == SIZE_MAX)
				continue;
			r = &sc.routes[i][j];
			if (r->error[0] != '\0') {
				m->state[j] = R_FAILED;
				m->e.rcpts[j].last_code = 554;
				snprintf(m->e.rcpts[j].last_reply,
				    sizeof(m->e.rcpts[j].last_reply),
				    "5.4.4 %s", r->error);
				log_rcpt(m, j, "none", "bounced");
				continue;
			}
			{
				size_t n = 0, *grp = xcalloc(m->e.nrcpts,
				    sizeof(*grp));
				char key[1024], key2[1024];

				route_key(r, key, sizeof(key));
				for (k = j; k < m->e.nrcpts; k++) {
					if (m->state[k] != R_WAIT ||
					    idx[k] == SIZE_MAX ||
					    sc.routes[i][k].error[0] != '\0')
						continue;
					route_key(&sc.routes[i][k], key2,
					    sizeof(key2));
					if (strcmp(key, key2) != 0)
						continue;
					grp[n++] = k;
					idx[k] = SIZE_MAX;
				}
				d = dest_get(r);
				for (k = 0; k < n; k += S.cfg->mta_dest_recipients)
					job_add(m, d, grp + k, n - k <
					    S.cfg->mta_dest_recipients ? n - k :
					    S.cfg->mta_dest_recipients);
				free(grp);
			}
		}
		free(idx);
		if (m->njobs == 0)
			msg_finish(m);
	}
	scan_ctx_free(&sc, 1);
	for (d = TAILQ_FIRST(&S.dests); d != NULL; d = dn) {
		dn = TAILQ_NEXT(d, entry);
		if (d->njobs > 0)
			dest_run(d);
	}
}

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

	r->port = S.cfg->mta_port;
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
static int
route_of(struct store_txn *t, const char *sender, const char *rcpt,
    struct route *r)
{
	struct store_transport tr;
	struct store_source src;
	char dom[256];
	const char *nh;
	int rc, tls = S.cfg->mta_tls;

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
	} else if (S.cfg->mta_relayhost[0] != '\0') {
		nh = S.cfg->mta_relayhost;
		snprintf(r->user, sizeof(r->user), "%s",
		    S.cfg->mta_relay_user);
		snprintf(r->pass, sizeof(r->pass), "%s",
		    S.cfg->mta_relay_password);
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
		r->port = S.cfg->mta_port;
	}
	snprintf(r->src4, sizeof(r->src4), "%s", S.cfg->mta_source4);
	snprintf(r->src6, sizeof(r->src6), "%s", S.cfg->mta_source6);
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

static void
route_key(const struct route *r, char *buf, size_t size)
{
	snprintf(buf, size, "%d|%s|%u|%d|%s|%s|%s|%s", (int)r->kind, r->name,
	    r->port, (int)r->tls, r->user, r->pass, r->src4, r->src6);
}

/* Destinations --------------------------------------------------------- */

static struct dest *
dest_get(const struct route *r)
{
	struct dest *d;
	char key[1024];

	route_key(r, key, sizeof(key));
	TAILQ_FOREACH(d, &S.dests, entry)
		if (strcmp(d->key, key) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->r = *r;
	snprintf(d->key, sizeof(d->key), "%s", key);
	TAILQ_INIT(&d->jobs);
	TAILQ_INIT(&d->conns);
	d->idle_since = sched_now();
	TAILQ_INSERT_TAIL(&S.dests, d, entry);
	return d;
}

/* Frees destinations idle for a while (their DNS answers age out). */
static void
dest_gc(void)
{
	struct dest *d, *dn;
	int64_t now = sched_now();

	for (d = TAILQ_FIRST(&S.dests); d != NULL; d = dn) {
		dn = TAILQ_NEXT(d, entry);
		if (d->njobs > 0 || d->nconns > 0 || d->resolving ||
		    now - d->idle_since < MTA_DNS_CACHE_S)
			continue;
		TAILQ_REMOVE(&S.dests, d, entry);
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
	const char *self = S.cfg->mta_helo_name[0] != '\0' ?
	    S.cfg->mta_helo_name : S.cfg->hostname;
	size_t i, j;
	socklen_t len;

	d->resolving = 0;
	d->resolved_at = sched_now();
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
	dest_run(d);
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
		d->resolved_at = sched_now();
		return;
	}
	d->resolving = 1;
	if (d->r.kind == D_MX)
		rc = mta_dns_mx(S.dns, d->r.name, dest_dns_cb, d, &d->qid);
	else
		rc = mta_dns_host(S.dns, d->r.name, dest_dns_cb, d, &d->qid);
	if (rc == -1) {
		d->resolving = 0;
		d->resolved_at = sched_now();
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
	size_t i;

	while ((j = TAILQ_FIRST(&d->jobs)) != NULL) {
		TAILQ_REMOVE(&d->jobs, j, entry);
		d->njobs--;
		for (i = 0; i < j->n; i++) {
			j->cr[i].code = code;
			snprintf(j->cr[i].enhanced, sizeof(j->cr[i].enhanced),
			    "%s", enh);
			snprintf(j->cr[i].reply, sizeof(j->cr[i].reply), "%s",
			    text);
			j->cr[i].remote = 0;
		}
		job_done(j, "none", 0);
	}
}

/* Connections wanted for the waiting jobs: opens them, hands out jobs. */
static void
dest_run(struct dest *d)
{
	struct mconn *c;
	unsigned idle = 0, starting = 0;
	int64_t now = sched_now();

	if (S.stopping)
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
		else if (c->job == NULL)
			idle++;
	while (d->njobs > starting + idle &&
	    d->nconns < S.cfg->mta_dest_concurrency &&
	    S.nconns < S.cfg->mta_connections) {
		c = xcalloc(1, sizeof(*c));
		c->d = d;
		TAILQ_INSERT_TAIL(&d->conns, c, entry);
		d->nconns++;
		S.nconns++;
		starting++;
		conn_open(d, c);
	}
}

/* Jobs ----------------------------------------------------------------- */

static void
job_add(struct qmsg *m, struct dest *d, size_t *idx, size_t n)
{
	struct job *j;
	size_t i;

	j = xcalloc(1, sizeof(*j));
	j->m = m;
	j->d = d;
	j->n = n;
	j->idx = xreallocarray(NULL, n, sizeof(*j->idx));
	memcpy(j->idx, idx, n * sizeof(*idx));
	j->cr = xcalloc(n, sizeof(*j->cr));
	for (i = 0; i < n; i++) {
		j->cr[i].addr = m->e.rcpts[idx[i]].addr;
		j->cr[i].orcpt = m->e.rcpts[idx[i]].orcpt;
		j->cr[i].notify = m->e.rcpts[idx[i]].notify;
	}
	m->njobs++;
	TAILQ_INSERT_TAIL(&d->jobs, j, entry);
	d->njobs++;
}

static void
job_free(struct job *j)
{
	free(j->idx);
	free(j->cr);
	free(j);
}

static int
body_txn(struct store_txn *t, void *arg)
{
	struct qmsg *m = arg;

	return store_body_read(t, m->e.body, &m->data, &m->len);
}

/* The message bytes of m, read once.  0 done, -1 error (err set). */
static int
msg_load(struct qmsg *m)
{
	int rc;

	if (m->loaded)
		return 0;
	free(m->data);
	m->data = NULL;
	if ((rc = store_read(S.st, body_txn, m)) == -1)
		return -1;
	if (rc == 0)
		return err_set(ERR_CORRUPT, "queue entry %016" PRIX64 ": its "
		    "message is missing from the store", m->e.id);
	m->loaded = 1;
	return 0;
}

static int
job_load(struct job *j)
{
	struct qmsg *m = j->m;
	const unsigned char *p;
	size_t i;
	int eight = 0;

	if (msg_load(m) == -1)
		return -1;
	for (p = m->data, i = 0; i < m->len && !eight; i++)
		eight = p[i] >= 0x80;
	memset(&j->txn, 0, sizeof(j->txn));
	j->txn.sender = m->e.sender;
	j->txn.envid = m->e.envid;
	j->txn.ret = (enum mta_ret)m->e.ret;
	j->txn.smtputf8 = (m->e.flags & STORE_QF_SMTPUTF8) != 0;
	j->txn.eightbit = eight || (m->e.flags & STORE_QF_8BITMIME) != 0;
	j->txn.data = m->data;
	j->txn.len = m->len;
	j->txn.rcpts = j->cr;
	j->txn.nrcpts = j->n;
	return 0;
}

/*
 * A job's recipients have their results: record them, queue the
 * delivered ones for removal, finish the message after its last job.
 */
static void
job_done(struct job *j, const char *relay, int has_dsn)
{
	struct qmsg *m = j->m;
	struct store_queue_rcpt *qr;
	struct mta_client_rcpt *cr;
	struct op *op = NULL;
	size_t i, k;

	for (i = 0; i < j->n; i++) {
		k = j->idx[i];
		cr = &j->cr[i];
		qr = &m->e.rcpts[k];
		snprintf(m->relay[k], sizeof(m->relay[k]), "%s", relay);
		if (cr->code == 0) {
			cr->code = 451;
			snprintf(cr->enhanced, sizeof(cr->enhanced), "4.3.0");
			snprintf(cr->reply, sizeof(cr->reply), "no result "
			    "for this recipient");
		}
		qr->last_code = (uint16_t)cr->code;
		if (cr->enhanced[0] != '\0' && strncmp(cr->reply,
		    cr->enhanced, strlen(cr->enhanced)) != 0)
			snprintf(qr->last_reply, sizeof(qr->last_reply),
			    "%.16s %.490s", cr->enhanced, cr->reply);
		else
			snprintf(qr->last_reply, sizeof(qr->last_reply),
			    "%.512s", cr->reply);
		if (cr->code >= 200 && cr->code < 300) {
			m->state[k] = R_SENT;
			if ((qr->notify & STORE_NOTIFY_SUCCESS) && !has_dsn)
				m->relayed[k] = 1;
			if (op == NULL) {
				op = xcalloc(1, sizeof(*op));
				op->kind = OP_SENT;
				op->m = m;
				op->addrs = xcalloc(j->n, sizeof(*op->addrs));
			}
			snprintf(op->addrs[op->naddrs++], sizeof(*op->addrs),
			    "%s", qr->addr);
			log_rcpt(m, k, relay, "sent");
		} else if (cr->code >= 500) {
			m->state[k] = R_FAILED;
			log_rcpt(m, k, relay, "bounced");
		} else {
			m->state[k] = R_DEFERRED;
			log_rcpt(m, k, relay, "deferred");
		}
	}
	/* The message's last job: its final update drops them anyway. */
	if (op != NULL && m->njobs > 1)
		op_push(op);
	else if (op != NULL) {
		free(op->addrs);
		free(op);
	}
	job_free(j);
	if (--m->njobs == 0)
		msg_finish(m);
}

static void
log_rcpt(const struct qmsg *m, size_t k, const char *relay,
    const char *status)
{
	const struct store_queue_rcpt *qr = &m->e.rcpts[k];
	char id[STORE_QUEUE_ID_LEN + 1];
	char reply[STORE_QUEUE_REPLY_MAX + 1];
	size_t i;

	/* one line per recipient, as Postfix's smtp client logs */
	snprintf(reply, sizeof(reply), "%s", qr->last_reply);
	for (i = 0; reply[i] != '\0'; i++)
		if (reply[i] == '\n' || reply[i] == '\r')
			reply[i] = ' ';
	log_info("%s: to=<%s>, relay=%s, delay=%" PRId64 ", attempts=%u, "
	    "code=%u, status=%s (%s)", store_queue_id_format(m->e.id, id),
	    qr->addr, relay, sched_now() - m->e.queued, m->e.attempts + 1,
	    qr->last_code, status, reply);
}

/* Finishing a message: notices, then the queue update ------------------- */

/* The status code of a result ("5.1.1"), from its reply or its code. */
static void
rcpt_status(const struct store_queue_rcpt *qr, char *buf, size_t size)
{
	const char *s = qr->last_reply;

	if ((s[0] == '2' || s[0] == '4' || s[0] == '5') && s[1] == '.' &&
	    isdigit((unsigned char)s[2])) {
		size_t n = strcspn(s, " ");

		snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), s);
		return;
	}
	snprintf(buf, size, "%c.0.0", qr->last_code >= 500 ? '5' : '4');
}

/*
 * Sends one notice about m's recipients in state st (action act).
 * 1 sent or nothing to send, 0 could not (try again later).
 */
static int
msg_notice(struct qmsg *m, enum rstate st, int relayed_only,
    enum dsn_action act)
{
	struct dsn_input in;
	struct dsn_rcpt *dr;
	char (*status)[16], (*reply)[STORE_QUEUE_REPLY_MAX + 8];
	char (*mtaname)[256];
	char id[STORE_QUEUE_ID_LEN + 1], nid[STORE_QUEUE_ID_LEN + 1];
	uint64_t notice_id = 0;
	size_t i, n = 0;
	int rc;

	dr = xcalloc(m->e.nrcpts, sizeof(*dr));
	status = xcalloc(m->e.nrcpts, sizeof(*status));
	reply = xcalloc(m->e.nrcpts, sizeof(*reply));
	mtaname = xcalloc(m->e.nrcpts, sizeof(*mtaname));
	for (i = 0; i < m->e.nrcpts; i++) {
		if (m->state[i] != st || (relayed_only && !m->relayed[i]))
			continue;
		rcpt_status(&m->e.rcpts[i], status[n], sizeof(status[n]));
		if (m->e.rcpts[i].last_code != 0)
			snprintf(reply[n], sizeof(reply[n]), "%u %s",
			    m->e.rcpts[i].last_code,
			    m->e.rcpts[i].last_reply);
		dr[n].addr = m->e.rcpts[i].addr;
		dr[n].orcpt = m->e.rcpts[i].orcpt;
		dr[n].notify = m->e.rcpts[i].notify;
		dr[n].action = act;
		dr[n].status = act == DSN_RELAYED ? "2.0.0" : status[n];
		/* Remote-MTA names the host (RFC 3464 2.3.5), not the
		   "host[address]:port" of the logs. */
		snprintf(mtaname[n], sizeof(mtaname[n]), "%.*s",
		    (int)strcspn(m->relay[i], "["), m->relay[i]);
		dr[n].remote_mta = strcmp(mtaname[n], "none") != 0 &&
		    mtaname[n][0] != '\0' ? mtaname[n] : NULL;
		dr[n].reply = reply[n][0] != '\0' ? reply[n] : NULL;
		dr[n].last_attempt = sched_now();
		if (act == DSN_DELAYED)
			dr[n].retry_until = m->e.queued +
			    (int64_t)S.cfg->queue_max_age;
		n++;
	}
	rc = 1;
	if (n > 0) {
		if (msg_load(m) == -1)
			log_warnx("%s: notice without the original: %s",
			    store_queue_id_format(m->e.id, id), err_msg());
		memset(&in, 0, sizeof(in));
		in.hostname = S.cfg->hostname;
		in.sender = m->e.sender;
		in.envid = m->e.envid[0] != '\0' ? m->e.envid : NULL;
		in.ret = (enum dsn_ret)m->e.ret;
		in.queue_id = m->e.id;
		in.arrival = m->e.queued;
		in.is_notice = (m->e.flags & STORE_QF_NOTICE) != 0;
		in.rcpts = dr;
		in.nrcpts = n;
		in.msg = m->loaded ? m->data : NULL;
		in.msglen = m->loaded ? m->len : 0;
		switch (deliver_notice(S.st, &S.dcf, &in, &notice_id)) {
		case 1:
			log_info("%s: sender %s notice: %s",
			    store_queue_id_format(m->e.id, id),
			    act == DSN_FAILED ? "non-delivery" : act ==
			    DSN_DELAYED ? "delay" : "delivery",
			    store_queue_id_format(notice_id, nid));
			break;
		case 0:
			if (act == DSN_FAILED)
				log_info("%s: no non-delivery notice (%s)",
				    store_queue_id_format(m->e.id, id),
				    m->e.sender[0] == '\0' || in.is_notice ?
				    "the message is a notice itself" :
				    "NOTIFY does not ask for one");
			break;
		default:
			log_warnx("%s: notice to <%s> failed: %s",
			    store_queue_id_format(m->e.id, id),
			    m->e.sender, err_msg());
			rc = err_class() == ERR_TEMP ? 0 : 1;
			break;
		}
	}
	free(dr);
	free(status);
	free(reply);
	free(mtaname);
	return rc;
}

static void
msg_finish(struct qmsg *m)
{
	struct op *op;
	int64_t now = sched_now();
	size_t i, ndef = 0, nfail = 0;
	char id[STORE_QUEUE_ID_LEN + 1];

	for (i = 0; i < m->e.nrcpts; i++) {
		if (m->state[i] == R_WAIT)
			m->state[i] = R_DEFERRED;
		ndef += m->state[i] == R_DEFERRED;
	}
	/* Too old: what is left bounces with its last reply. */
	if (ndef > 0 && S.cfg->queue_max_age > 0 &&
	    now - m->e.queued >= (int64_t)S.cfg->queue_max_age) {
		for (i = 0; i < m->e.nrcpts; i++) {
			char last[STORE_QUEUE_REPLY_MAX + 1];

			if (m->state[i] != R_DEFERRED)
				continue;
			m->state[i] = R_FAILED;
			snprintf(last, sizeof(last), "%s",
			    m->e.rcpts[i].last_reply);
			snprintf(m->e.rcpts[i].last_reply,
			    sizeof(m->e.rcpts[i].last_reply), "5.4.7 "
			    "delivery time expired after %u days; the last "
			    "attempt said: %.400s", S.cfg->queue_max_age /
			    86400, last);
			m->e.rcpts[i].last_code = 554;
			log_rcpt(m, i, m->relay[i][0] != '\0' ? m->relay[i] :
			    "none", "expired");
		}
		ndef = 0;
	}
	for (i = 0; i < m->e.nrcpts; i++)
		nfail += m->state[i] == R_FAILED;
	if (nfail > 0 && !msg_notice(m, R_FAILED, 0, DSN_FAILED)) {
		/* The bounce could not be made now: keep them queued. */
		for (i = 0; i < m->e.nrcpts; i++)
			if (m->state[i] == R_FAILED)
				m->state[i] = R_DEFERRED;
		ndef += nfail;
	}
	for (i = 0; i < m->e.nrcpts; i++)
		if (m->relayed[i]) {
			(void)msg_notice(m, R_SENT, 1, DSN_RELAYED);
			break;
		}
	if (ndef > 0 && S.cfg->queue_delay_warning > 0 &&
	    !(m->e.flags & STORE_QF_WARNED) &&
	    now - m->e.queued >= (int64_t)S.cfg->queue_delay_warning) {
		(void)msg_notice(m, R_DEFERRED, 0, DSN_DELAYED);
		m->e.flags |= STORE_QF_WARNED;
		log_info("%s: delay notice due after %" PRId64 " s",
		    store_queue_id_format(m->e.id, id), now - m->e.queued);
	}
	free(m->data);
	m->data = NULL;
	m->loaded = 0;
	op = xcalloc(1, sizeof(*op));
	op->kind = OP_FINAL;
	op->m = m;
	op_push(op);
}

static void
op_push(struct op *op)
{
	struct timeval tv = { 0, MTA_COMMIT_MS * 1000 };

	*S.opstail = op;
	S.opstail = &op->next;
	if (++S.nops >= MTA_COMMIT_OPS)
		event_active(S.commit_ev, EV_TIMEOUT, 0);
	else if (!evtimer_pending(S.commit_ev, NULL))
		evtimer_add(S.commit_ev, &tv);
}

/* Applies one op to the stored entry (the body may run again). */
static int
op_apply(struct store_txn *t, const struct op *op)
{
	struct store_queue_entry e;
	struct qmsg *m = op->m;
	size_t i, j, keep = 0;
	int rc, drop;

	if ((rc = store_queue_get(t, m->e.id, &e)) != 1)
		return rc;	/* removed meanwhile (queue del) */
	for (i = 0; i < e.nrcpts; i++) {
		drop = 0;
		if (op->kind == OP_SENT) {
			for (j = 0; j < op->naddrs; j++)
				if (strcmp(op->addrs[j], e.rcpts[i].addr) == 0)
					drop = 1;
		} else {
			for (j = 0; j < m->e.nrcpts; j++) {
				if (strcmp(m->e.rcpts[j].addr,
				    e.rcpts[i].addr) != 0)
					continue;
				if (m->state[j] == R_SENT ||
				    m->state[j] == R_FAILED)
					drop = 1;
				else if (m->state[j] == R_DEFERRED) {
					e.rcpts[i].last_code =
					    m->e.rcpts[j].last_code;
					memcpy(e.rcpts[i].last_reply,
					    m->e.rcpts[j].last_reply,
					    sizeof(e.rcpts[i].last_reply));
				}
				break;
			}
		}
		if (!drop)
			e.rcpts[keep++] = e.rcpts[i];
	}
	e.nrcpts = keep;
	if (op->kind == OP_FINAL) {
		e.attempts++;
		e.next_try = sched_now() + (int64_t)mta_runner_backoff(S.cfg,
		    e.attempts);
		e.flags |= m->e.flags & STORE_QF_WARNED;
	}
	rc = store_queue_put(t, &e);
	store_queue_entry_clear(&e);
	return rc == -1 ? -1 : 0;
}

static int
commit_txn(struct store_txn *t, void *arg)
{
	const struct op *op;

	(void)arg;
	for (op = S.ops; op != NULL; op = op->next)
		if (op_apply(t, op) == -1)
			return -1;
	return 0;
}

static void
commit_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct op *op, *next;
	struct timeval tv = { 1, 0 };

	(void)fd;
	(void)ev;
	(void)arg;
	if (S.ops == NULL)
		return;
	if (store_write(S.st, commit_txn, NULL) == -1) {
		log_warnx("queue update failed (tried again in 1 s): %s",
		    err_msg());
		evtimer_add(S.commit_ev, &tv);
		return;
	}
	for (op = S.ops; op != NULL; op = next) {
		next = op->next;
		if (op->kind == OP_FINAL)
			qmsg_free(op->m);
		free(op->addrs);
		free(op);
	}
	S.ops = NULL;
	S.opstail = &S.ops;
	S.nops = 0;
	evtimer_del(S.commit_ev);
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
	int64_t now = sched_now();

	for (; c->ai < d->naddrs && c->tried < MTA_ADDRS_MAX; c->ai++) {
		a = &d->addrs[c->ai];
		if (a->down_until > now)
			continue;
		memset(&cc, 0, sizeof(cc));
		cc.helo = S.cfg->mta_helo_name[0] != '\0' ?
		    S.cfg->mta_helo_name : S.cfg->hostname;
		cc.addr = (const struct sockaddr *)&a->sa;
		cc.addrlen = a->len;
		cc.sourcelen = conn_source(d, a->sa.ss_family, &src);
		cc.source = cc.sourcelen > 0 ? (struct sockaddr *)&src : NULL;
		cc.server_name = a->host;
		cc.tls = c->notls ? MTA_TLS_NONE : d->r.tls;
		cc.ssl_ctx = S.ssl;
		if (d->r.user[0] != '\0') {
			cc.auth_user = d->r.user;
			cc.auth_pass = d->r.pass;
		}
		cc.connect_timeout = S.cfg->mta_connect_timeout;
		cc.greeting_timeout = S.cfg->mta_greeting_timeout;
		cc.command_timeout = S.cfg->mta_command_timeout;
		cc.data_init_timeout = min_u(S.cfg->mta_command_timeout, 120);
		cc.data_block_timeout = min_u(S.cfg->mta_data_timeout, 180);
		cc.data_done_timeout = S.cfg->mta_data_timeout;
		c->tried++;
		if (mta_client_new(S.base, &cc, conn_cb, c, &c->c) == 0)
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
	int64_t now = sched_now();
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
	dest_fail_all(d, 451, "4.4.1", "no mail host address could be "
	    "connected to");
}

/* Hands c the next waiting job of its destination, or lets it idle. */
static void
conn_give(struct mconn *c)
{
	struct dest *d = c->d;
	struct timeval tv;
	struct job *j;
	size_t i;

	while ((j = TAILQ_FIRST(&d->jobs)) != NULL) {
		TAILQ_REMOVE(&d->jobs, j, entry);
		d->njobs--;
		if (job_load(j) == -1) {
			log_warnx("%s", err_msg());
			for (i = 0; i < j->n; i++) {
				j->cr[i].code = 451;
				snprintf(j->cr[i].enhanced,
				    sizeof(j->cr[i].enhanced), "4.3.0");
				snprintf(j->cr[i].reply, sizeof(j->cr[i].reply),
				    "the message could not be read from the "
				    "store");
			}
			job_done(j, "none", 0);
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
		return;
	}
	c->ready = 1;
	if (S.cfg->mta_reuse_time == 0) {
		mta_client_quit(c->c);
		return;
	}
	if (c->idle_ev == NULL)
		c->idle_ev = evtimer_new(S.base, conn_idle_cb, c);
	tv.tv_sec = S.cfg->mta_reuse_time;
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
			job_done(j, mta_client_peer(c->c), eh->dsn);
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
		job_done(j, peer, 0);
		conn_free(c);
		dest_run(d);
		return;
	}
	if (c->greeted) {
		/* idle and closed (by us, or by the server) */
		conn_free(c);
		dest_run(d);
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
			d->addrs[c->ai].down_until = sched_now() +
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
	S.nconns--;
	if (d->nconns == 0 && d->njobs == 0)
		d->idle_since = sched_now();
	free(c);
}

/* Start and stop ------------------------------------------------------- */

int
mta_runner_start(struct event_base *base, struct store *st,
    const struct config *cfg)
{
	struct timeval tv = { 0, MTA_POLL_MS * 1000 };

	memset(&S, 0, sizeof(S));
	S.base = base;
	S.st = st;
	S.cfg = cfg;
	/* Notices to forwarded mail's senders (SRS0=...@ours) need the
	   secret to find their way back. */
	if (deliver_config_init(&S.dcf, st, cfg) == -1)
		return err_set(err_class(), "[srs]: %s", err_msg());
	S.ops = NULL;
	S.opstail = &S.ops;
	TAILQ_INIT(&S.dests);
	if ((S.ssl = mta_client_ssl_ctx(cfg->mta_tls_ca_file[0] != '\0' ?
	    cfg->mta_tls_ca_file : NULL)) == NULL)
		return -1;
	if (mta_dns_new(base, cfg, &S.dns) == -1)
		return -1;
	S.poll_ev = event_new(base, -1, EV_PERSIST, poll_cb, NULL);
	S.commit_ev = evtimer_new(base, commit_cb, NULL);
	event_add(S.poll_ev, &tv);
	event_active(S.poll_ev, EV_TIMEOUT, 0);
	return 0;
}

void
mta_runner_stop(void)
{
	struct dest *d;
	struct mconn *c;
	struct job *j;
	size_t i;

	S.stopping = 1;
	/* What finished is written; what is in flight is sent again. */
	commit_cb(-1, 0, NULL);
	while ((d = TAILQ_FIRST(&S.dests)) != NULL) {
		while ((c = TAILQ_FIRST(&d->conns)) != NULL) {
			if (c->job != NULL)
				job_free(c->job);
			conn_free(c);
		}
		while ((j = TAILQ_FIRST(&d->jobs)) != NULL) {
			TAILQ_REMOVE(&d->jobs, j, entry);
			job_free(j);
		}
		TAILQ_REMOVE(&S.dests, d, entry);
		free(d->addrs);
		free(d);
	}
	for (i = 0; i < HASH_SIZE; i++)
		while (S.hash[i] != NULL)
			qmsg_free(S.hash[i]);
	mta_dns_free(&S.dns);
	if (S.poll_ev != NULL)
		event_free(S.poll_ev);
	if (S.commit_ev != NULL)
		event_free(S.commit_ev);
	SSL_CTX_free(S.ssl);
	memset(&S, 0, sizeof(S));
}
