/*
 * dnscheck.c - the DNS policies of port 25 (issue 15), asynchronous, on
 * the process's resolver (common/dns.h, srv->dns):
 *   connect  [smtpd] dnsbl_sites / dnsbl_threshold: the client's address
 *            is looked up in every zone at once (A; TXT for the log
 *            where it is listed);
 *            the weights of the zones that list it are summed, and at
 *            the threshold the greeting is "554 5.7.1 Service
 *            unavailable; client [IP] blocked using ZONE" (the listing
 *            zone of the highest weight), then only QUIT (acl.c's path).
 *            A zone whose lookup fails counts as not listing (logged).
 *            A client whose white ACL entry skips DNSBL is not looked up.
 *            [smtpd] reject_unknown_client: the PTR names of the address,
 *            each looked up forward; none that gives the address back is
 *            "554 5.7.25 Client host [IP] rejected: cannot find your
 *            hostname" as the greeting, a temporary failure the same in
 *            421 4.7.25 (the session ends).  The greeting is the earliest
 *            place (Postfix waits for RCPT): a client that cannot be
 *            accepted wastes nothing more, and the verified name goes
 *            into Received: and the log.
 *   HELO     [smtpd] reject_unknown_helo_hostname: a name (not an address
 *            literal) with no A, AAAA nor MX: 550 5.7.1, temporary
 *            failure 450 4.7.1; MAIL then needs a good HELO/EHLO (fqdn.c).
 *   MAIL     [smtpd] reject_unknown_sender_domain: the sender's domain
 *            with no MX, A nor AAAA (MX first; A and AAAA only when
 *            there is no MX): 550 5.1.8, a null MX (RFC 7505):
 *            550 5.7.27, temporary failure 450 4.1.8.  Not for <>, nor
 *            for a domain of ours, an address literal or a UTF-8 domain.
 * All on [smtp] only, for clients not in trusted_networks nor logged in
 * (session_port25_untrusted()).
 *
 * The connect lookups together, and each HELO or MAIL check, take at
 * most [dns] timeout: each query is given what is left of it.  While they
 * run the conn is paused: no command is processed, pipelined input waits
 * in its buffer, and the reply comes with the answer.  A session that
 * ends meanwhile cancels its lookups (session_dns_cancel()).  libunbound
 * caches every answer for its TTL, so a client that comes back within it
 * costs no query.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/conn.h"
#include "common/dns.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "store/acl.h"
#include "smtpd/sessionpriv.h"

/* PTR names of one address that are looked up forward (Postfix: all). */
#define DC_PTR_MAX	8
#define DC_QUERIES_MAX	(2 * CONFIG_DNSBL_MAX + 1 + DC_PTR_MAX)
#define DC_TXT_MAX	128

enum dc_stage { DC_CONNECT, DC_HELO, DC_MAIL };

enum dc_kind {
	DC_BL_A,		/* a DNSBL zone: is the client listed */
	DC_BL_TXT,		/* its reason, for the log */
	DC_PTR,			/* the client's names */
	DC_FWD,			/* one name back to addresses */
	DC_NAME,		/* HELO or sender domain: A, AAAA, MX */
};

/* What a set of lookups concluded. */
enum dc_verdict {
	DV_OK = 0,
	DV_NOTFOUND,		/* permanent: no such name, or no match */
	DV_TEMP,		/* try later */
	DV_NULLMX,		/* the domain takes no mail (RFC 7505) */
};

struct smtp_dns;

struct dc_query {
	struct smtp_dns		*g;
	enum dc_kind		 kind;
	int			 index;		/* zone, PTR name, or type */
	uint64_t		 qid;		/* pending at the resolver */
};

/* The lookups of one stage of a session. */
struct smtp_dns {
	struct smtp_session	*s;
	enum dc_stage		 stage;
	uint64_t		 deadline_ms;	/* monotonic */
	size_t			 nq, npending;
	struct dc_query		 q[DC_QUERIES_MAX];

	/* DNSBL */
	int			 listed[CONFIG_DNSBL_MAX];
	char			 bl_addr[CONFIG_DNSBL_MAX][INET_ADDRSTRLEN];
	char			 bl_txt[CONFIG_DNSBL_MAX][DC_TXT_MAX];
	/* reverse DNS */
	int			 rev;		/* asked */
	enum dc_verdict		 ptr;		/* PTR answer */
	size_t			 nnames;
	char			 names[DC_PTR_MAX][DNS_NAME_MAX + 1];
	int			 fwd_match;	/* index of the name, -1 */
	int			 fwd_temp;
	unsigned char		 addr[16];	/* the client's, binary */
	size_t			 addrlen;	/* 4 or 16 */
	char			 why[DNS_ERROR_MAX];
	/* HELO or sender domain */
	char			 name[DNS_NAME_MAX + 1];
	int			 found, temp, nullmx;
	struct smtp_cmd		 cmd;		/* the HELO/EHLO */
	int			 esmtp;
};

static int	dc_applies(struct smtp_session *, int on);
static struct smtp_dns *dc_new(struct smtp_session *, enum dc_stage);
static uint64_t	dc_now_ms(void);
static int	dc_ask(struct smtp_dns *, const char *, int rrtype,
		    enum dc_kind, int index);
static void	dc_answer(const struct dns_answer *, void *);
static void	dc_bl_answer(struct smtp_dns *, int zone,
		    const struct dns_answer *);
static void	dc_ptr_answer(struct smtp_dns *, const struct dns_answer *);
static int	dc_nodata(struct smtp_dns *, const struct dns_answer *,
		    int *);
static void	dc_fwd_answer(struct smtp_dns *, int name,
		    const struct dns_answer *);
static void	dc_name_answer(struct smtp_dns *, int rrtype,
		    const struct dns_answer *);
static void	dc_name_addrs(struct smtp_dns *);
static void	dc_name_lookup(struct smtp_dns *, const char *);
static void	dc_wait(struct smtp_session *, struct smtp_dns *);
static void	dc_decide(struct smtp_session *, struct smtp_dns *);
static void	dc_done(struct smtp_dns *);
static void	dc_connect_done(struct smtp_session *, struct smtp_dns *);
static int	dc_dnsbl_verdict(struct smtp_session *, struct smtp_dns *);
static void	dc_helo_done(struct smtp_session *, struct smtp_dns *);
static void	dc_mail_done(struct smtp_session *, struct smtp_dns *);
static enum dc_verdict dc_name_verdict(const struct smtp_dns *);

static int
dc_applies(struct smtp_session *s, int on)
{
	return on && s->srv->dns != NULL && session_port25_untrusted(s);
}

static uint64_t
dc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct smtp_dns *
dc_new(struct smtp_session *s, enum dc_stage stage)
{
	struct smtp_dns *g = xcalloc(1, sizeof(*g));

	g->s = s;
	g->stage = stage;
	g->fwd_match = -1;
	g->deadline_ms = dc_now_ms() + dns_timeout(s->srv->dns) * 1000ULL;
	return g;
}

/*
 * One query of the group with what is left of its time: 1 asked, 0 not
 * (the reason logged; name is no domain name, or the resolver refused).
 */
static int
dc_ask(struct smtp_dns *g, const char *name, int rrtype, enum dc_kind kind,
    int index)
{
	struct dc_query *q;
	uint64_t now = dc_now_ms();
	unsigned left = g->deadline_ms > now ?
	    (unsigned)(g->deadline_ms - now) : 1;

	if (g->nq == DC_QUERIES_MAX)
		fatalx("smtp: dnscheck: more than %d queries",
		    DC_QUERIES_MAX);
	q = &g->q[g->nq];
	q->g = g;
	q->kind = kind;
	q->index = index;
	if (dns_query(g->s->srv->dns, name, rrtype, left, dc_answer, q,
	    &q->qid) == -1) {
		log_info("conn %lu: dns: cannot look up %s for %s: %s",
		    g->s->id, name, g->s->ip, err_msg());
		return 0;
	}
	g->nq++;
	g->npending++;
	return 1;
}

static void
dc_answer(const struct dns_answer *a, void *arg)
{
	struct dc_query *q = arg;
	struct smtp_dns *g = q->g;

	q->qid = 0;
	g->npending--;
	switch (q->kind) {
	case DC_BL_A:
		dc_bl_answer(g, q->index, a);
		break;
	case DC_BL_TXT:
		if (a->status == DNS_DATA && a->count > 0)
			(void)dns_txt_text(a->data[0], (size_t)a->len[0],
			    g->bl_txt[q->index], sizeof(g->bl_txt[0]));
		break;
	case DC_PTR:
		dc_ptr_answer(g, a);
		break;
	case DC_FWD:
		dc_fwd_answer(g, q->index, a);
		break;
	case DC_NAME:
		dc_name_answer(g, q->index, a);
		break;
	}
	if (g->npending == 0)
		dc_done(g);
}

/* Connect ------------------------------------------------------------------ */

int
session_dns_connect(struct smtp_session *s)
{
	const struct config *cf = s->srv->config;
	struct smtp_dns *g;
	char name[DNS_REVERSE_MAX + 1];
	size_t i;
	int bl, ok;

	bl = dc_applies(s, cf->smtpd_ndnsbl > 0);
	if (bl && (s->acl.skip & ACL_SKIP_DNSBL)) {
		log_info("conn %lu: dnsbl: client %s not looked up: "
		    "whitelisted by %s", s->id, s->ip, s->acl.by);
		bl = 0;
	}
	if (!bl && !dc_applies(s, cf->smtpd_reject_unknown_client))
		return 0;
	g = dc_new(s, DC_CONNECT);
	for (i = 0; bl && i < cf->smtpd_ndnsbl; i++) {
		if (!dns_reverse_name(s->ip, cf->smtpd_dnsbl[i].zone, name,
		    sizeof(name))) {
			log_info("conn %lu: dnsbl: no query of %s for %s",
			    s->id, cf->smtpd_dnsbl[i].zone, s->ip);
			continue;
		}
		(void)dc_ask(g, name, DNS_T_A, DC_BL_A, (int)i);
	}
	if (dc_applies(s, cf->smtpd_reject_unknown_client)) {
		g->rev = 1;
		ok = dns_reverse_name(s->ip, NULL, name, sizeof(name));
		if (ok && inet_pton(AF_INET, s->ip, g->addr) == 1)
			g->addrlen = 4;
		else if (ok && inet_pton(AF_INET6, s->ip, g->addr) == 1) {
			g->addrlen = 16;
			if (memcmp(g->addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff",
			    12) == 0) {
				memmove(g->addr, g->addr + 12, 4);
				g->addrlen = 4;
			}
		}
		if (g->addrlen == 0 || !dc_ask(g, name, DNS_T_PTR, DC_PTR,
		    0)) {
			g->ptr = DV_TEMP;
			snprintf(g->why, sizeof(g->why), "no PTR query of %s",
			    s->ip);
		}
	}
	dc_wait(s, g);
	return 1;
}

static void
dc_bl_answer(struct smtp_dns *g, int zone, const struct dns_answer *a)
{
	const struct config_dnsbl *d = &g->s->srv->config->smtpd_dnsbl[zone];
	size_t i, k;
	const unsigned char *r;

	if (a->status == DNS_TEMP) {
		log_info("conn %lu: dnsbl: %s lookup for %s failed, counted "
		    "as not listed: %s", g->s->id, d->zone, g->s->ip,
		    a->error);
		return;
	}
	for (i = 0; a->status == DNS_DATA && i < a->count; i++) {
		if (a->len[i] != 4)
			continue;
		r = a->data[i];
		for (k = 0; d->filtered && k < 4; k++)
			if (!(d->octets[k][r[k] / 8] & (1u << (r[k] % 8))))
				break;
		if (d->filtered && k < 4)
			continue;
		g->listed[zone] = 1;
		inet_ntop(AF_INET, r, g->bl_addr[zone],
		    sizeof(g->bl_addr[zone]));
		/*
		 * The list's reason, for the log: asked only of a listed
		 * client, so a clean one costs one query per zone.
		 */
		(void)dc_ask(g, a->name, DNS_T_TXT, DC_BL_TXT, zone);
		return;
	}
}

static void
dc_ptr_answer(struct smtp_dns *g, const struct dns_answer *a)
{
	char name[DNS_NAME_MAX + 1];
	size_t i;
	int asked = 0;

	if (a->status != DNS_DATA) {
		g->ptr = a->status == DNS_TEMP ? DV_TEMP : DV_NOTFOUND;
		snprintf(g->why, sizeof(g->why), "%s", a->error);
		return;
	}
	/* Only host names: one that cannot be asked cannot confirm. */
	for (i = 0; i < a->count && g->nnames < DC_PTR_MAX; i++)
		if (dns_wire_name(a->data[i], (size_t)a->len[i], name,
		    sizeof(name), NULL) == 0 && dns_name_ok(name,
		    g->names[g->nnames], sizeof(g->names[0])))
			g->nnames++;
	for (i = 0; i < g->nnames; i++)
		asked |= dc_ask(g, g->names[i], g->addrlen == 4 ? DNS_T_A :
		    DNS_T_AAAA, DC_FWD, (int)i);
	if (g->nnames == 0) {
		g->ptr = DV_NOTFOUND;
		snprintf(g->why, sizeof(g->why), "no host name in the PTR "
		    "records");
	} else if (!asked) {
		g->ptr = DV_TEMP;
		snprintf(g->why, sizeof(g->why), "no query of its names");
	}
}

/*
 * An answer without records: its reason kept for the log (the first, or
 * a temporary failure's, which decides), *temp set for a temporary one.
 * 1 no records, 0 records.
 */
static int
dc_nodata(struct smtp_dns *g, const struct dns_answer *a, int *temp)
{
	if (a->status == DNS_DATA)
		return 0;
	if (a->status == DNS_TEMP)
		*temp = 1;
	if (a->status == DNS_TEMP || g->why[0] == '\0')
		snprintf(g->why, sizeof(g->why), "%s", a->error);
	return 1;
}

static void
dc_fwd_answer(struct smtp_dns *g, int name, const struct dns_answer *a)
{
	size_t i;

	if (dc_nodata(g, a, &g->fwd_temp))
		return;
	for (i = 0; i < a->count; i++)
		if ((size_t)a->len[i] == g->addrlen &&
		    memcmp(a->data[i], g->addr, g->addrlen) == 0) {
			if (g->fwd_match == -1)
				g->fwd_match = name;
			return;
		}
	if (g->why[0] == '\0')
		snprintf(g->why, sizeof(g->why), "%s does not resolve to %s",
		    g->names[name], g->s->ip);
}

/*
 * Every answer of the connect lookups is in: the greeting.  The DNSBL
 * decides first (its reply names the list); then the client's name.
 */
static void
dc_connect_done(struct smtp_session *s, struct smtp_dns *g)
{
	const char *host = s->srv->config->hostname;
	enum dc_verdict v;

	if (dc_dnsbl_verdict(s, g))
		return;
	if (g->rev) {
		if (g->ptr != DV_OK)
			v = g->ptr;
		else if (g->fwd_match >= 0)
			v = DV_OK;
		else
			v = g->fwd_temp ? DV_TEMP : DV_NOTFOUND;
		if (v == DV_OK) {
			snprintf(s->ptr_name, sizeof(s->ptr_name), "%s",
			    g->names[g->fwd_match]);
			log_info("conn %lu: reverse dns: client %s is %s",
			    s->id, s->ip, s->ptr_name);
		} else if (v == DV_TEMP) {
			log_info("conn %lu: reverse dns: client %s refused "
			    "for now, temporary failure: %s", s->id, s->ip,
			    g->why);
			conn_printf(s->conn, "421 4.7.25 %s Client host [%s] "
			    "rejected: cannot find your hostname, try again "
			    "later\r\n", host, s->ip);
			session_close(s);
			return;
		} else {
			log_info("conn %lu: reverse dns: client %s rejected: "
			    "no name that resolves back to it: %s", s->id,
			    s->ip, g->why);
			s->acl.blocked = 1;
			conn_printf(s->conn, "554 5.7.25 Client host [%s] "
			    "rejected: cannot find your hostname\r\n", s->ip);
			return;
		}
	}
	/* The wait let a client talk first: that is early talking too. */
	if (session_early_ok(s, NULL))
		session_greet(s);
}

/* 1 the client is blocked (554 greeting written), 0 it passes. */
static int
dc_dnsbl_verdict(struct smtp_session *s, struct smtp_dns *g)
{
	const struct config *cf = s->srv->config;
	const struct config_dnsbl *d;
	long score = 0;
	int best = -1, asked = 0;
	size_t i;

	for (i = 0; i < g->nq; i++)
		asked |= g->q[i].kind == DC_BL_A;
	if (!asked)
		return 0;
	for (i = 0; i < cf->smtpd_ndnsbl; i++) {
		if (!g->listed[i])
			continue;
		d = &cf->smtpd_dnsbl[i];
		score += d->weight;
		if (d->weight > 0 && (best == -1 ||
		    d->weight > cf->smtpd_dnsbl[best].weight))
			best = (int)i;
		log_info("conn %lu: dnsbl: client %s listed by %s (%s%s%s), "
		    "weight %d", s->id, s->ip, d->zone, g->bl_addr[i],
		    g->bl_txt[i][0] != '\0' ? ": " : "", g->bl_txt[i],
		    d->weight);
	}
	if (score < (long)cf->smtpd_dnsbl_threshold || best == -1) {
		log_info("conn %lu: dnsbl: client %s passes: score %ld, "
		    "threshold %u", s->id, s->ip, score,
		    cf->smtpd_dnsbl_threshold);
		return 0;
	}
	log_info("conn %lu: dnsbl: client %s rejected: score %ld, "
	    "threshold %u, blocked using %s", s->id, s->ip, score,
	    cf->smtpd_dnsbl_threshold, cf->smtpd_dnsbl[best].zone);
	s->acl.blocked = 1;
	conn_printf(s->conn, "554 5.7.1 Service unavailable; client [%s] "
	    "blocked using %s\r\n", s->ip, cf->smtpd_dnsbl[best].zone);
	return 1;
}

/* HELO and MAIL: a name's A, AAAA and MX ----------------------------------- */

/*
 * A and AAAA of g->name (a query refused is a temporary failure).
 */
static void
dc_name_addrs(struct smtp_dns *g)
{
	if (!dc_ask(g, g->name, DNS_T_A, DC_NAME, DNS_T_A))
		g->temp = 1;
	if (!dc_ask(g, g->name, DNS_T_AAAA, DC_NAME, DNS_T_AAAA))
		g->temp = 1;
}

/*
 * HELO: A, AAAA and MX at once (a host name has an address).  MAIL: the
 * MX first, as a mail domain has one (or a null MX, which decides
 * alone); A and AAAA only when it has no usable one (RFC 5321 5.1's
 * implicit MX), and not after NXDOMAIN, which no type of the name
 * escapes: one query a MAIL for most senders, not three.
 */
static void
dc_name_lookup(struct smtp_dns *g, const char *name)
{
	if (!dns_name_ok(name, g->name, sizeof(g->name))) {
		snprintf(g->name, sizeof(g->name), "%.*s", DNS_NAME_MAX,
		    name);
		snprintf(g->why, sizeof(g->why), "not a domain name");
		return;
	}
	if (!dc_ask(g, g->name, DNS_T_MX, DC_NAME, DNS_T_MX))
		g->temp = 1;
	if (g->stage != DC_MAIL)
		dc_name_addrs(g);
}

static void
dc_name_answer(struct smtp_dns *g, int rrtype, const struct dns_answer *a)
{
	char host[DNS_NAME_MAX + 1];
	size_t i;

	if (dc_nodata(g, a, &g->temp)) {
		if (rrtype == DNS_T_MX && g->stage == DC_MAIL &&
		    a->status != DNS_NXDOMAIN)
			dc_name_addrs(g);
		return;
	}
	if (rrtype != DNS_T_MX) {
		g->found = 1;
		return;
	}
	/* An MX of target "." (RFC 7505) is no mail exchanger. */
	for (i = 0; i < a->count; i++) {
		if (a->len[i] < 3 || dns_wire_name(a->data[i] + 2,
		    (size_t)a->len[i] - 2, host, sizeof(host), NULL) != 0)
			continue;
		if (host[0] == '\0')
			g->nullmx = 1;
		else
			g->found = 1;
	}
	if (!g->found && !g->nullmx) {
		snprintf(g->why, sizeof(g->why), "malformed MX records of %s",
		    g->name);
		if (g->stage == DC_MAIL)
			dc_name_addrs(g);
	}
}

static enum dc_verdict
dc_name_verdict(const struct smtp_dns *g)
{
	if (g->nullmx && g->stage == DC_MAIL)
		return DV_NULLMX;
	if (g->found)
		return DV_OK;
	return g->temp ? DV_TEMP : DV_NOTFOUND;
}

int
session_dns_helo(struct smtp_session *s, const struct smtp_cmd *cmd,
    int esmtp)
{
	struct smtp_dns *g;
	char name[SMTP_HELO_MAX + 1];
	size_t n = strcspn(cmd->args, " ");

	if (!dc_applies(s, s->srv->config->smtpd_reject_unknown_helo) ||
	    cmd->args[0] == '[')
		return 1;	/* an address literal is no name to look up */
	if (n > SMTP_HELO_MAX)
		n = SMTP_HELO_MAX;
	memcpy(name, cmd->args, n);
	name[n] = '\0';
	g = dc_new(s, DC_HELO);
	g->cmd = *cmd;
	g->cmd.args = g->cmd.line + (cmd->args - cmd->line);
	g->esmtp = esmtp;
	dc_name_lookup(g, name);
	dc_wait(s, g);
	return 0;
}

static void
dc_helo_done(struct smtp_session *s, struct smtp_dns *g)
{
	char shown[DNS_NAME_MAX + 1];
	size_t i;

	switch (dc_name_verdict(g)) {
	case DV_OK:
	case DV_NULLMX:
		log_info("conn %lu: helo dns: %s of client %s resolves",
		    s->id, g->name, s->ip);
		session_hello_accept(s, &g->cmd, g->esmtp);
		return;
	case DV_TEMP:
		log_info("conn %lu: helo dns: %s of client %s: temporary "
		    "failure: %s", s->id, g->name, s->ip, g->why);
		break;
	case DV_NOTFOUND:
		log_info("conn %lu: helo dns: %s of client %s not found: %s",
		    s->id, g->name, s->ip, g->why);
		break;
	}
	/* Echoed: printable (an invalid name was never asked). */
	for (i = 0; g->name[i] != '\0' && i < sizeof(shown) - 1; i++)
		shown[i] = g->name[i] > ' ' && g->name[i] < 127 ?
		    g->name[i] : '?';
	shown[i] = '\0';
	if (dc_name_verdict(g) == DV_TEMP)
		session_fail(s, "450 4.7.1 <%s>: Helo command rejected: Host "
		    "not found", shown);
	else
		session_fail(s, "550 5.7.1 <%s>: Helo command rejected: Host "
		    "not found", shown);
}

int
session_dns_mail(struct smtp_session *s)
{
	struct smtp_dns *g;
	const char *at, *dom, *p;
	int rc;

	if (!dc_applies(s, s->srv->config->smtpd_reject_unknown_sender) ||
	    s->mail.addr[0] == '\0' ||
	    (at = strrchr(s->mail.addr, '@')) == NULL)
		return 1;
	dom = at + 1;
	if (*dom == '[' || *dom == '\0')
		return 1;	/* an address literal */
	for (p = dom; *p != '\0'; p++)
		if ((unsigned char)*p >= 128) {
			/* U-labels: no IDNA here to ask for them. */
			log_info("conn %lu: sender dns: <%s> of client %s not "
			    "looked up: a UTF-8 domain", s->id, s->mail.addr,
			    s->ip);
			return 1;
		}
	if ((rc = deliver_domain_local(s->srv->store, s->mail.addr)) == -1) {
		session_err_reply(s, "cannot check the sender domain");
		memset(&s->mail, 0, sizeof(s->mail));
		return 0;
	}
	if (rc == 1)
		return 1;
	g = dc_new(s, DC_MAIL);
	dc_name_lookup(g, dom);
	dc_wait(s, g);
	return 0;
}

static void
dc_mail_done(struct smtp_session *s, struct smtp_dns *g)
{
	const char *addr = s->mail.addr;

	switch (dc_name_verdict(g)) {
	case DV_OK:
		log_info("conn %lu: sender dns: <%s> of client %s: %s "
		    "resolves", s->id, addr, s->ip, g->name);
		session_mail_accept(s);
		return;
	case DV_NULLMX:
		log_info("conn %lu: sender dns: <%s> of client %s: %s has a "
		    "null MX", s->id, addr, s->ip, g->name);
		session_fail(s, "550 5.7.27 <%s>: Sender address rejected: "
		    "Domain %s does not accept mail (nullMX)", addr, g->name);
		break;
	case DV_TEMP:
		log_info("conn %lu: sender dns: <%s> of client %s: temporary "
		    "failure: %s", s->id, addr, s->ip, g->why);
		session_fail(s, "450 4.1.8 <%s>: Sender address rejected: "
		    "Domain not found", addr);
		break;
	case DV_NOTFOUND:
		log_info("conn %lu: sender dns: <%s> of client %s: %s not "
		    "found: %s", s->id, addr, s->ip, g->name, g->why);
		session_fail(s, "550 5.1.8 <%s>: Sender address rejected: "
		    "Domain not found", addr);
		break;
	}
	memset(&s->mail, 0, sizeof(s->mail));
}

/*
 * The group's queries are asked: the session waits for them, paused so
 * that commands sent meanwhile wait too; or none could be asked (each
 * reason logged) and the stage decides at once.
 */
static void
dc_wait(struct smtp_session *s, struct smtp_dns *g)
{
	if (g->npending == 0) {
		dc_decide(s, g);
		return;
	}
	s->dns = g;
	conn_pause(s->conn);
}

/* The last answer of a group came: the session goes on. */
static void
dc_done(struct smtp_dns *g)
{
	struct smtp_session *s = g->s;

	s->dns = NULL;
	conn_resume(s->conn);
	dc_decide(s, g);
}

/* The stage's verdict and reply; frees g. */
static void
dc_decide(struct smtp_session *s, struct smtp_dns *g)
{
	if (!s->closing)
		switch (g->stage) {
		case DC_CONNECT:
			dc_connect_done(s, g);
			break;
		case DC_HELO:
			dc_helo_done(s, g);
			break;
		case DC_MAIL:
			dc_mail_done(s, g);
			break;
		}
	free(g);
}

void
session_dns_cancel(struct smtp_session *s)
{
	struct smtp_dns *g = s->dns;
	size_t i;

	if (g == NULL)
		return;
	s->dns = NULL;
	for (i = 0; i < g->nq; i++)
		if (g->q[i].qid != 0)
			dns_cancel(s->srv->dns, g->q[i].qid);
	log_info("conn %lu: dns: client %s left during its lookups", s->id,
	    s->ip);
	free(g);
}
